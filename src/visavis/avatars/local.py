"""The local avatar as an ``AvatarProvider``: our own voice and mouth, drawn in the browser.

Nothing runs at a provider, so sessions are free and never orphaned. The live pipeline
speaks through ``LocalSpeechOutput`` (synthesis one sentence ahead of playback); ``speak``
here is the one-shot form of the same path, for callers outside a conversation.
"""

from __future__ import annotations

import json
import uuid

from visavis.avatars.base import (
    ActiveSession,
    AvatarProvider,
    DataSink,
    ProviderLimits,
    ProviderSession,
    SessionRequest,
    SpeakResult,
)
from visavis.speech.lipsync import animate
from visavis.speech.tts.base import TTSEngine
from visavis.tenancy.costs import FREE


class LocalAvatarProvider(AvatarProvider):
    """Speech by the instance's voice; mouth cues from its exact phone timings."""

    name = "local"

    def __init__(self, tts: TTSEngine) -> None:
        self.tts = tts
        self.limits = ProviderLimits(ms_per_char=70.0)
        self.billing = FREE

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        return ProviderSession(provider=self.name, session_id=f"local-{uuid.uuid4().hex}")

    async def start(self, session: ProviderSession) -> None:
        """Nothing to connect."""

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        """Synthesize ``text`` and hand each piece's mouth cues to ``sink`` (as JSON)."""
        total_ms = 0.0
        async for chunk in self.tts.synthesize(text):
            track = animate(chunk.pcm, chunk.sample_rate, phones=chunk.phones, text=chunk.text)
            await sink(json.dumps({"text": chunk.text, "cues": track.to_compact(total_ms / 1000)}))
            total_ms += chunk.duration * 1000
        return SpeakResult(duration_ms=total_ms)

    async def interrupt(self, session: ProviderSession, *, sink: DataSink) -> None:
        """The pipeline stops the audio; nothing runs elsewhere."""

    async def keep_alive(self, session: ProviderSession) -> None:
        """Local sessions never idle out."""

    async def stop(self, session_id: str) -> bool:
        return False

    async def list_active(self) -> list[ActiveSession]:
        return []
