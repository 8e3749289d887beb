"""Cloning with ElevenLabs instant voice cloning: every usable sample is sent as WAV."""

from __future__ import annotations

from visavis.speech.tts.base import TTSEngine
from visavis.voices.cloning import (
    ClonedVoice,
    CloneProgress,
    CloneRequest,
    CloningBackend,
    wav_bytes,
)
from visavis.voices.elevenlabs_api import ElevenLabsAPI
from visavis.voices.elevenlabs_speech import ElevenLabsVoice


class ElevenLabsCloning(CloningBackend):
    """Instant voice clones at ElevenLabs (``/v1/voices/add``)."""

    name = "elevenlabs"
    needs_reference = False  # it clones from every sample

    def __init__(self, api: ElevenLabsAPI) -> None:
        self.api = api

    async def clone(
        self, request: CloneRequest, *, progress: CloneProgress | None = None
    ) -> ClonedVoice:
        if progress is not None:
            progress(0.1, "uploading samples")
        files = [
            (f"sample-{n + 1}.wav", wav_bytes(samples, request.sample_rate))
            for n, samples in enumerate(request.samples)
        ]
        voice_id = await self.api.add_voice(name=request.name, files=files)
        if progress is not None:
            progress(1.0, "ready")
        return ClonedVoice(self.name, voice_id)

    def speaker(self, voice_id: str) -> TTSEngine:
        return ElevenLabsVoice(self.api, voice_id)

    async def delete(self, voice_id: str) -> None:
        await self.api.delete_voice(voice_id)

    async def aclose(self) -> None:
        await self.api.aclose()
