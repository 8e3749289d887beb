"""The parts of an instance built from its settings: agents, the voice, avatar providers."""

from __future__ import annotations

from visavis.agents.interviewer import InterviewerOptions
from visavis.agents.openai_compatible import OpenAICompatibleOptions
from visavis.agents.registry import AgentRegistry, register_builtin_agents
from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider
from visavis.avatars.base import AvatarProvider
from visavis.avatars.heygen.api import HeyGenAPI
from visavis.avatars.heygen.provider import HeyGenOptions, HeyGenProvider
from visavis.avatars.local import LocalAvatarProvider
from visavis.avatars.transport import ProviderCallObserver
from visavis.config import Settings
from visavis.conversation.lifecycle import provider_configured
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.espeak import EspeakEngine
from visavis.speech.tts.piper import PiperEngine, PiperVoicePaths


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
    """The instance's one voice, shared by every conversation."""
    if settings.tts_engine == "espeak":
        return EspeakEngine(voice=settings.espeak_voice)
    paths = (
        PiperVoicePaths.from_model(settings.piper_voice_path)
        if settings.piper_voice_path is not None
        else PiperVoicePaths.default()
    )
    # Conversations split their sentences themselves, as urgency requires.
    return PiperEngine(voice=paths, threads=settings.tts_threads, first_chunk_words=None)


def build_avatars(
    settings: Settings, tts: TTSEngine, observer: ProviderCallObserver | None = None
) -> dict[str, AvatarProvider]:
    """The local avatar, and every provider this instance has credentials for.

    ``observer`` hears of every provider API call (metrics).
    """
    providers: dict[str, AvatarProvider] = {"local": LocalAvatarProvider(tts)}
    if provider_configured(settings, "heygen") and settings.heygen_api_key is not None:
        providers["heygen"] = HeyGenProvider(
            HeyGenAPI(
                api_key=settings.heygen_api_key.get_secret_value(),
                base_url=settings.heygen_base_url,
                timeout_s=settings.provider_timeout_s,
                observer=observer,
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
                observer=observer,
            ),
            AkoolOptions(
                duration_s=settings.akool_session_duration_s,
                price_per_minute_usd=settings.akool_price_per_minute_usd,
            ),
        )
    return providers
