"""The parts of an instance built from its settings: agents, the voice, avatar providers."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.agents.interviewer import InterviewerOptions
from visavis.agents.openai_compatible import OpenAICompatibleOptions
from visavis.agents.registry import AgentRegistry, register_builtin_agents, register_twin_agent
from visavis.agents.twin import TwinAgentOptions, TwinSetup
from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider
from visavis.avatars.base import AvatarProvider
from visavis.avatars.heygen.api import HeyGenAPI
from visavis.avatars.heygen.provider import HeyGenOptions, HeyGenProvider
from visavis.avatars.local import LocalAvatarProvider
from visavis.config import Settings
from visavis.conversation.lifecycle import provider_configured
from visavis.mind.embedding import WordLlamaEmbedder
from visavis.mind.service import MindService
from visavis.mind.twin_setup import load_twin_setup
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.cache import CachedTTSEngine
from visavis.speech.tts.espeak import EspeakEngine
from visavis.speech.tts.piper import PiperEngine, PiperVoicePaths
from visavis.tenancy.crypto import SecretBox
from visavis.voices.cloning import CloningBackend
from visavis.voices.elevenlabs import ElevenLabsCloning
from visavis.voices.elevenlabs_api import ElevenLabsAPI
from visavis.voices.gptsovits import GPTSoVITSCloning
from visavis.voices.gptsovits_api import GPTSoVITSAPI


def build_agents(settings: Settings) -> AgentRegistry:
    """The built-in agents; ``openai`` is offered whenever an endpoint is configured."""
    registry = AgentRegistry()
    openai = OpenAICompatibleOptions(
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else "",
        system_prompt=settings.openai_system_prompt,
        timeout_s=settings.openai_timeout_s,
        first_token_timeout_s=settings.openai_first_token_timeout_s,
        max_retries=settings.openai_max_retries,
    )
    register_builtin_agents(registry, interviewer=InterviewerOptions(), openai=openai)
    return registry


def build_tts(settings: Settings) -> TTSEngine:
    """The instance's one voice, shared by every conversation (behind the synthesis cache)."""
    engine: TTSEngine
    if settings.tts_engine == "espeak":
        engine = EspeakEngine(voice=settings.espeak_voice)
        voice = f"espeak:{settings.espeak_voice}"
    else:
        paths = (
            PiperVoicePaths.from_model(settings.piper_voice_path)
            if settings.piper_voice_path is not None
            else PiperVoicePaths.default()
        )
        # Conversations split their sentences themselves, as urgency requires.
        engine = PiperEngine(voice=paths, threads=settings.tts_threads, first_chunk_words=None)
        voice = f"piper:{settings.piper_voice_path or 'bundled'}"
    if settings.tts_cache_max_bytes == 0:
        return engine
    return CachedTTSEngine(
        engine, voice=voice, max_bytes=settings.tts_cache_max_bytes, ttl_s=settings.tts_cache_ttl_s
    )


def build_avatars(settings: Settings, tts: TTSEngine) -> dict[str, AvatarProvider]:
    """The local avatar, and every provider this instance has credentials for."""
    providers: dict[str, AvatarProvider] = {"local": LocalAvatarProvider(tts)}
    if provider_configured(settings, "heygen") and settings.heygen_api_key is not None:
        providers["heygen"] = HeyGenProvider(
            HeyGenAPI(
                api_key=settings.heygen_api_key.get_secret_value(),
                base_url=settings.heygen_base_url,
                timeout_s=settings.provider_timeout_s,
            ),
            HeyGenOptions(
                idle_timeout_s=settings.heygen_idle_timeout_s,
                price_per_minute_usd=settings.heygen_price_per_minute_usd,
            ),
        )
    if provider_configured(settings, "akool"):
        providers["akool"] = AkoolProvider(
            AkoolAPI(
                base_url=settings.akool_base_url,
                api_key=settings.akool_api_key.get_secret_value()
                if settings.akool_api_key
                else None,
                client_id=settings.akool_client_id,
                client_secret=settings.akool_client_secret.get_secret_value()
                if settings.akool_client_secret
                else None,
                timeout_s=settings.provider_timeout_s,
            ),
            AkoolOptions(
                duration_s=settings.akool_session_duration_s,
                price_per_minute_usd=settings.akool_price_per_minute_usd,
            ),
        )
    return providers


def build_mind(settings: Settings) -> MindService:
    """Twins' memory with the bundled embedding model (loaded at first use)."""
    return MindService(WordLlamaEmbedder(), recheck_s=settings.twin_memory_recheck_s)


def register_twin(
    registry: AgentRegistry,
    *,
    settings: Settings,
    mind: MindService,
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox,
) -> None:
    """Offer the ``twin`` agent: each conversation's twin is loaded at its first turn."""

    async def loader(
        *, tenant_id: uuid.UUID, twin_id: uuid.UUID, conversation_id: uuid.UUID | None
    ) -> TwinSetup:
        return await load_twin_setup(
            mind,
            sessions,
            box,
            tenant_id=tenant_id,
            twin_id=twin_id,
            conversation_id=conversation_id,
            switch_role=settings.database_rls,
        )

    register_twin_agent(
        registry, loader, options=TwinAgentOptions(threshold=settings.twin_confidence_threshold)
    )


def build_cloning(settings: Settings) -> dict[str, CloningBackend]:
    """The cloning backends this instance is configured for (none by default)."""
    backends: dict[str, CloningBackend] = {}
    if settings.elevenlabs_api_key is not None:
        backends["elevenlabs"] = ElevenLabsCloning(
            ElevenLabsAPI(
                api_key=settings.elevenlabs_api_key.get_secret_value(),
                base_url=settings.elevenlabs_base_url,
                timeout_s=settings.cloning_timeout_s,
            )
        )
    if (
        settings.gptsovits_base_url
        and settings.gptsovits_local_dir is not None
        and settings.gptsovits_server_dir
    ):
        backends["gptsovits"] = GPTSoVITSCloning(
            GPTSoVITSAPI(
                base_url=settings.gptsovits_base_url, timeout_s=settings.cloning_timeout_s
            ),
            local_dir=settings.gptsovits_local_dir,
            server_dir=settings.gptsovits_server_dir,
        )
    return backends
