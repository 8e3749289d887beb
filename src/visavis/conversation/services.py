"""What every live conversation of the instance shares: the agents, the voice, the store."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.agents.registry import AgentRegistry
from visavis.avatars.launcher import AvatarLauncher
from visavis.config import Settings
from visavis.db.repositories.leases import LeaseRepository
from visavis.ops.events import EventRecorder
from visavis.ops.metrics import Metrics
from visavis.speech.stt.base import STTEngine
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.fallback import VoiceSwitch
from visavis.speech.tts.scheduler import SynthesisScheduler
from visavis.speech.vad import SpeechDetector
from visavis.tenancy.flags import FlagCache


@dataclass
class LiveServices:
    """Built once per instance in the app factory (or by the test kit)."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    agents: AgentRegistry
    tts: TTSEngine
    synthesis: SynthesisScheduler
    launcher: AvatarLauncher | None = None
    flags: FlagCache | None = None
    metrics: Metrics | None = None
    events: EventRecorder | None = None
    stt: STTEngine | None = None
    """The shared recognizer for voice input (``None``: the instance takes no microphone)."""
    speech_detector: Callable[[], SpeechDetector] | None = None
    """Builds each microphone's voice activity detector (default: Silero)."""
    twin_voice: TwinVoice | None = None
    """The cloned voice of a twin's conversation (``None``: every conversation speaks with
    ``tts``)."""


#: ``(tenant, twin, fallback, on_switch)`` → the twin's cloned voice with ``fallback``
#: behind it, or ``None`` when it speaks with the bundled voice.
TwinVoice = Callable[
    [uuid.UUID, uuid.UUID, TTSEngine, Callable[[VoiceSwitch], None]],
    Awaitable[TTSEngine | None],
]


@dataclass(frozen=True, slots=True)
class Holding:
    """This instance's hold on one live conversation: which instance, and the lease's epoch."""

    instance_id: str
    epoch: int

    async def claim_greeting(
        self, sessions: async_sessionmaker[AsyncSession], conversation_id: uuid.UUID
    ) -> bool:
        """Whether this hold greets: one greeting per conversation, however many connections
        race to open it (only the one holding the lease may claim it)."""
        async with sessions() as db:
            claimed = await LeaseRepository(db).claim_greeting(conversation_id, epoch=self.epoch)
            await db.commit()
        return claimed
