"""What every live conversation of the instance shares: the agents, the voice, the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.agents.registry import AgentRegistry
from visavis.avatars.launcher import AvatarLauncher
from visavis.config import Settings
from visavis.ops.events import EventRecorder
from visavis.ops.metrics import Metrics
from visavis.speech.stt.base import STTEngine
from visavis.speech.tts.base import TTSEngine
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


@dataclass(frozen=True, slots=True)
class Holding:
    """This instance's hold on one live conversation: which instance, and the lease's epoch."""

    instance_id: str
    epoch: int
