"""The parts of an instance built from its settings: agents, the voice, avatar providers."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.agents.interviewer import InterviewerOptions
from visavis.agents.openai_compatible import OpenAICompatibleOptions
from visavis.agents.registry import AgentRegistry, register_builtin_agents, register_twin_agent
from visavis.agents.twin import TwinAgentOptions, TwinSetup
from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider
from visavis.avatars.base import AvatarProvider
from visavis.avatars.liveavatar.api import LiveAvatarAPI
from visavis.avatars.liveavatar.provider import LiveAvatarOptions, LiveAvatarProvider
from visavis.avatars.local import LocalAvatarProvider
from visavis.avatars.names import provider_configured
from visavis.avatars.simli.api import SimliAPI
from visavis.avatars.simli.provider import SimliOptions, SimliProvider
from visavis.avatars.tavus.api import TavusAPI
from visavis.avatars.tavus.provider import TavusOptions, TavusProvider
from visavis.avatars.transport import ProviderCallObserver
from visavis.config import Settings
from visavis.mind.embedding import WordLlamaEmbedder
from visavis.mind.service import MindService
from visavis.mind.twin_setup import load_twin_setup
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt import RecognitionObserver, STTEngine, build_stt_engine
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.bounded import BoundedVoice, SpeechBounds
from visavis.speech.tts.cache import CachedTTSEngine
from visavis.speech.tts.espeak import EspeakEngine
from visavis.speech.tts.piper import PiperEngine, PiperVoicePaths
from visavis.speech.tts.scheduler import SynthesisScheduler
from visavis.stt_settings import stt_options
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
    """The instance's one voice, shared by every conversation: behind the synthesis cache,
    under the speech bounds."""
    if settings.tts_engine == "espeak":
        espeak = EspeakEngine(voice=settings.espeak_voice)
        return bound_voice(
            cached(espeak, f"espeak:{settings.espeak_voice}", settings),
            settings.espeak_voice,
            settings,
        )
    paths = (
        PiperVoicePaths.from_model(settings.piper_voice_path)
        if settings.piper_voice_path is not None
        else PiperVoicePaths.default()
    )
    # Conversations split their sentences themselves, as urgency requires.
    piper = PiperEngine(
        voice=paths,
        threads=settings.tts_threads,
        first_chunk_words=None,
        max_sentence_s=settings.tts_max_sentence_s,
    )
    name = f"piper:{settings.piper_voice_path or 'bundled'}"
    return bound_voice(cached(piper, name, settings), piper.language, settings)


def cached(engine: TTSEngine, voice: str, settings: Settings) -> TTSEngine:
    """``engine`` behind the synthesis cache (unless it is turned off)."""
    if settings.tts_cache_max_bytes == 0:
        return engine
    return CachedTTSEngine(
        engine, voice=voice, max_bytes=settings.tts_cache_max_bytes, ttl_s=settings.tts_cache_ttl_s
    )


def speech_bounds(settings: Settings) -> SpeechBounds:
    """The per sentence and per reply bounds of speech, from the settings."""
    return SpeechBounds(
        max_sentence_chars=settings.tts_max_sentence_chars,
        max_sentence_s=settings.tts_max_sentence_s,
        max_reply_chars=settings.tts_max_reply_chars,
        max_reply_s=settings.tts_max_reply_s,
    )


def bound_voice(engine: TTSEngine, language: str, settings: Settings) -> BoundedVoice:
    """``engine`` under the speech bounds; eSpeak NG voices for the scripts it cannot speak."""
    return BoundedVoice(
        engine,
        voice=language,
        bounds=speech_bounds(settings),
        fallback=lambda name: EspeakEngine(voice=name),
    )


def build_avatars(
    settings: Settings, tts: TTSEngine, observer: ProviderCallObserver | None = None
) -> dict[str, AvatarProvider]:
    """The local avatar, and every provider this instance has credentials for.

    ``observer`` hears of every provider API call (metrics).
    """
    providers: dict[str, AvatarProvider] = {"local": LocalAvatarProvider(tts)}
    if settings.liveavatar_api_key is not None:
        providers["liveavatar"] = LiveAvatarProvider(
            LiveAvatarAPI(
                api_key=settings.liveavatar_api_key.get_secret_value(),
                base_url=settings.liveavatar_base_url,
                timeout_s=settings.provider_timeout_s,
                observer=observer,
            ),
            LiveAvatarOptions(
                mode=settings.liveavatar_mode,
                sandbox=settings.liveavatar_sandbox,
                context_id=settings.liveavatar_context_id,
                voice_id=settings.liveavatar_voice_id,
                max_session_duration_s=settings.liveavatar_max_session_duration_s,
                price_per_credit_usd=settings.liveavatar_price_per_credit_usd,
                connect_timeout_s=settings.provider_timeout_s,
            ),
            tts=tts,
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
    if settings.simli_api_key is not None:
        providers["simli"] = SimliProvider(
            SimliAPI(
                api_key=settings.simli_api_key.get_secret_value(),
                base_url=settings.simli_base_url,
                timeout_s=settings.provider_timeout_s,
                observer=observer,
            ),
            SimliOptions(
                max_session_s=settings.simli_max_session_s,
                max_idle_s=settings.simli_max_idle_s,
                start_timeout_s=settings.provider_timeout_s,
                price_per_minute_usd=settings.simli_price_per_minute_usd,
            ),
            tts=tts,
        )
    if settings.tavus_api_key is not None and settings.tavus_pal_id is not None:
        providers["tavus"] = TavusProvider(
            TavusAPI(
                api_key=settings.tavus_api_key.get_secret_value(),
                base_url=settings.tavus_base_url,
                timeout_s=settings.provider_timeout_s,
                observer=observer,
            ),
            TavusOptions(
                pal_id=settings.tavus_pal_id,
                max_call_duration_s=settings.tavus_max_call_duration_s,
                price_per_minute_usd=settings.tavus_price_per_minute_usd,
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


def speech_schedulers(
    settings: Settings, *, remote_voices: bool
) -> tuple[SynthesisScheduler, DeadlineScheduler]:
    """The bounds on the instance's speech work: (syntheses, decodes).

    Where both run on this machine's CPU, they share one set of slots (``VISAVIS_SPEECH_SLOTS``,
    default one per core), served earliest deadline first: the decode a listener waits for goes
    before a sentence due seconds from now, and neither kind oversubscribes the cores beside
    the other. A kind with its own bound (``VISAVIS_TTS_CONCURRENCY``,
    ``VISAVIS_STT_CONCURRENCY``) keeps it; so do syntheses when some voices are remote
    (``remote_voices``: cloned voices wait on the network, not the CPU) and decodes by a
    remote recognizer.
    """
    cores = os.cpu_count() or 1
    local_stt = settings.stt_engine != "openai"
    shared = not (settings.tts_concurrency or settings.stt_concurrency or remote_voices)
    if shared and local_stt:
        both = SynthesisScheduler(slots=settings.speech_slots or cores)
        return both, both
    synthesis = SynthesisScheduler(slots=settings.tts_concurrency or cores)
    return synthesis, DeadlineScheduler(settings.stt_concurrency or cores)


def build_stt(
    settings: Settings,
    *,
    scheduler: DeadlineScheduler | None = None,
    observer: RecognitionObserver | None = None,
) -> tuple[STTEngine, STTEngine]:
    """The recognizers shared by every conversation, and by every file transcription (the
    audio API). They are one engine unless files are decoded another way (another packaged
    Whisper model, or another beam, which shares the model's one copy); both decode under
    ``scheduler`` (default: a bound of ``VISAVIS_STT_CONCURRENCY`` concurrent decodes, 0 =
    one per core) and tell ``observer`` (the metrics) of every decode."""
    if scheduler is None:
        scheduler = DeadlineScheduler(settings.stt_concurrency or os.cpu_count() or 1)
    live, files = _live_and_files_stt(settings, scheduler, observer)
    return _finer_when_idle(settings, scheduler, observer, live, files), files


def _live_and_files_stt(
    settings: Settings, scheduler: DeadlineScheduler, observer: RecognitionObserver | None
) -> tuple[STTEngine, STTEngine]:
    live_options = stt_options(settings, files=False)
    live = build_stt_engine(live_options, scheduler=scheduler)
    live.observer = observer
    files_options = stt_options(settings, files=True)
    if files_options == live_options:
        return live, live
    from visavis.speech.stt.whisper import FasterWhisperEngine

    beam, step = files_options.whisper_beam_size, files_options.whisper_width_step
    if isinstance(live, FasterWhisperEngine) and files_options == replace(
        live_options, whisper_beam_size=beam, whisper_width_step=step
    ):
        # The same Whisper model, loaded once.
        return live, live.sharing_model(beam_size=beam, width_step=step)
    files = build_stt_engine(files_options, scheduler=scheduler)
    files.observer = observer
    return live, files


def _finer_when_idle(
    settings: Settings,
    scheduler: DeadlineScheduler,
    observer: RecognitionObserver | None,
    live: STTEngine,
    files: STTEngine,
) -> STTEngine:
    """``live``, or ``live`` and ``VISAVIS_STT_IDLE_WHISPER_MODEL`` as ``FinerWhenIdle`` (its
    one copy shared with the files' engine where that is the same model)."""
    from visavis.speech.stt.finer_when_idle import FinerWhenIdle
    from visavis.speech.stt.whisper import FasterWhisperEngine

    idle = settings.stt_idle_whisper_model
    pause_ms = settings.stt_pause_ms
    if not (
        idle
        and isinstance(live, FasterWhisperEngine)
        and live.options.model_dir is None
        and idle != live.options.model
        and 0 < pause_ms < settings.stt_end_silence_ms
    ):
        return live  # nothing finer, or no pause to decode it at before the turn ends
    beam, step = live.options.beam_size, live.options.width_step
    if isinstance(files, FasterWhisperEngine) and files.options.model == idle:
        fine = files.sharing_model(beam_size=beam, width_step=step)
    else:
        fine = FasterWhisperEngine(
            replace(live.options, model=idle),
            scheduler=scheduler,
            partial_interval_s=live.partial_interval_s,
        )
        fine.observer = observer
    # The decode starts at the pause; leave the answer 100 ms to start before the turn ends.
    budget_s = max(0.05, (settings.stt_end_silence_ms - pause_ms) / 1000 - 0.1)
    return FinerWhenIdle(live, fine, scheduler=scheduler, budget_s=budget_s)
