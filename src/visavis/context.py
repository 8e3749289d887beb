"""The objects one Visavis instance holds for its lifetime, built by the app factory."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from visavis import __version__
from visavis.agents.registry import AgentRegistry
from visavis.avatars.base import AvatarProvider
from visavis.avatars.catalogue import AvatarCatalogueCache
from visavis.avatars.launcher import AvatarLauncher
from visavis.config import Settings
from visavis.conversation.live import LiveConversations
from visavis.conversation.services import LiveServices
from visavis.mind.service import MindService
from visavis.ops.events import EventRecorder
from visavis.ops.metrics import Metrics
from visavis.ops.sweeper import Sweeper
from visavis.speech.stt.base import STTEngine
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.scheduler import SynthesisScheduler
from visavis.tenancy.auth_backoff import AuthBackoff
from visavis.tenancy.crypto import SecretBox
from visavis.tenancy.flags import FlagCache
from visavis.tenancy.ratelimit import RateLimiter
from visavis.voices.jobs import CloningJobs
from visavis.voices.speaking import ProfileVoices

ConversationEndHook = Callable[[uuid.UUID], Awaitable[None]]


@dataclass
class AppContext:
    """Settings, database, the agents and the voice, and the live conversations."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    agents: AgentRegistry
    tts: TTSEngine
    live: LiveConversations = field(default_factory=LiveConversations)
    end_hooks: list[ConversationEndHook] = field(default_factory=list)
    flags: FlagCache | None = None
    rate_limiter: RateLimiter | None = None
    providers: dict[str, AvatarProvider] = field(default_factory=dict)
    launcher: AvatarLauncher | None = None
    sweeper: Sweeper | None = None
    synthesis: SynthesisScheduler = field(default_factory=lambda: SynthesisScheduler(slots=1))
    catalogue: AvatarCatalogueCache | None = None
    auth_backoff: AuthBackoff | None = None
    #: Twins' memory (facts, stories, retrieval); ``None`` when the app was built without it.
    mind: MindService | None = None
    #: Encrypts secrets stored by routes (a twin's LLM key).
    secret_box: SecretBox | None = None
    #: Voice cloning jobs of this instance.
    cloning: CloningJobs | None = None
    #: Twins' cloned voices in their conversations.
    twin_voices: ProfileVoices | None = None
    stt: STTEngine | None = None
    #: Transcribes whole files (the audio API); ``stt`` itself unless another model is set.
    stt_files: STTEngine | None = None
    metrics: Metrics = field(default_factory=lambda: Metrics(version=__version__))
    events: EventRecorder | None = None

    def agent_names(self) -> Collection[str]:
        return self.agents.names()

    def live_services(self) -> LiveServices:
        """What a live conversation needs from the instance."""
        return LiveServices(
            settings=self.settings,
            sessions=self.sessions,
            agents=self.agents,
            tts=self.tts,
            synthesis=self.synthesis,
            launcher=self.launcher,
            flags=self.flags,
            metrics=self.metrics,
            events=self.events,
            stt=self.stt,
            twin_voice=self.twin_voices.for_twin if self.twin_voices is not None else None,
        )

    async def on_conversation_ended(self, conversation_id: uuid.UUID) -> None:
        """Tell every interested part (live session, avatar) that a conversation ended."""
        await self.live.tell_holder(conversation_id, "end")
        await self.live.end(conversation_id, reason="ended_by_api")
        if self.launcher is not None:
            await self.launcher.conversation_ended(conversation_id)
        for hook in self.end_hooks:
            await hook(conversation_id)
