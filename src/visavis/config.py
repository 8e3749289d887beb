"""Settings: one pydantic-settings class, read from ``VISAVIS_*`` variables and ``.env``.

Built in the app factory (or the CLI), never at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "visavis-development-secret-change-me"  # noqa: S105 - refused in production
#: The shortest pause at which the words so far can be decoded (``VISAVIS_STT_PAUSE_MS``).
MIN_PAUSE_MS = 200
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/visavis.db"


class Settings(BaseSettings):
    """Every setting of a Visavis instance; see the README for the list."""

    model_config = SettingsConfigDict(
        env_prefix="VISAVIS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- instance -------------------------------------------------------------------
    env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    redis_url: str | None = None
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2)
    client_token_ttl_s: int = Field(default=900, ge=30, le=86400)
    public_base_url: str | None = None
    ws_audio_lead_ms: int = Field(default=1500, ge=200, le=10000)
    ws_send_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=16 * 1024)
    ws_max_message_bytes: int = Field(default=16 * 1024, ge=1024)
    ws_hello_timeout_s: float = Field(default=10.0, gt=0)
    ws_send_timeout_s: float = Field(default=5.0, gt=0)
    ws_close_timeout_s: float = Field(default=10.0, gt=0)
    lease_check_s: float = Field(default=1.0, gt=0, le=10)

    # --- agents ---------------------------------------------------------------------
    default_agent: str = "interviewer"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_system_prompt: str = (
        "You are a friendly, concise conversational assistant speaking through an avatar. "
        "Answer in short spoken sentences without markdown."
    )
    openai_timeout_s: float = Field(default=30.0, gt=0)
    openai_first_token_timeout_s: float = Field(default=10.0, gt=0)
    openai_max_retries: int = Field(default=1, ge=0, le=5)

    # --- voice ----------------------------------------------------------------------
    tts_engine: Literal["piper", "espeak"] = "piper"
    piper_voice_path: Path | None = None
    tts_sample_rate: int = 24000
    tts_threads: int = Field(default=1, ge=0, le=64)
    tts_concurrency: int = Field(default=0, ge=0, le=64)
    # Slots shared by synthesis and local recognition (0: one per core).
    speech_slots: int = Field(default=0, ge=0, le=64)
    espeak_voice: str = "en-us"
    # Synthesis cache: identical (voice, settings, text) is synthesized once; 0 turns it off.
    tts_cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    tts_cache_ttl_s: float = Field(default=86400.0, gt=0)

    # --- avatars --------------------------------------------------------------------
    akool_base_url: str = "https://openapi.akool.com"
    akool_api_key: SecretStr | None = None
    akool_client_id: str | None = None
    akool_client_secret: SecretStr | None = None
    akool_price_per_minute_usd: float = Field(default=0.10, ge=0)
    akool_session_duration_s: int = Field(default=600, ge=10, le=3600)
    avatar_start_deadline_s: float = Field(default=3.0, gt=0)
    provider_timeout_s: float = Field(default=10.0, gt=0)
    # LiveAvatar (HeyGen's real-time avatars; ``heygen`` is read as ``liveavatar``)
    liveavatar_base_url: str = "https://api.liveavatar.com"
    liveavatar_api_key: SecretStr | None = None
    liveavatar_mode: Literal["LITE", "FULL"] = "LITE"
    liveavatar_sandbox: bool = False
    liveavatar_context_id: str | None = None
    liveavatar_voice_id: str | None = None
    liveavatar_price_per_credit_usd: float = Field(default=0.10, ge=0)
    liveavatar_max_session_duration_s: int | None = Field(default=None, ge=60, le=86400)
    simli_base_url: str = "https://api.simli.ai"
    simli_api_key: SecretStr | None = None
    simli_max_session_s: int = Field(default=3600, ge=60, le=3600)
    simli_max_idle_s: int = Field(default=300, ge=30, le=3600)
    simli_price_per_minute_usd: float = Field(default=0.05, ge=0)
    tavus_base_url: str = "https://tavusapi.com"
    tavus_api_key: SecretStr | None = None
    tavus_pal_id: str | None = None
    tavus_max_call_duration_s: int = Field(default=1800, ge=60, le=3600)
    tavus_price_per_minute_usd: float = Field(default=0.37, ge=0)
    avatar_catalogue_ttl_s: float = Field(default=60.0, ge=0, le=3600)
    #: A face not ready by the start deadline keeps starting this long, then joins late.
    avatar_join_limit_s: float = Field(default=30.0, gt=0, le=600)

    # --- background jobs ------------------------------------------------------------
    sweeper_interval_s: float = Field(default=10.0, gt=0)
    client_heartbeat_timeout_s: float = Field(default=30.0, gt=0)
    sweep_unknown_sessions: bool = False

    # --- secrets at rest ------------------------------------------------------------
    # Comma-separated Fernet keys, newest first; derived from secret_key when empty.
    encryption_keys: SecretStr | None = None

    # --- tenancy: admin API, flags, quotas, rate limits, isolation ------------------
    admin_api_key: SecretStr | None = None
    flags_cache_ttl_s: float = Field(default=2.0, gt=0, le=5)
    quota_session_estimate_s: int = Field(default=300, ge=0, le=86400)
    rate_limit_tenant_per_s: float = Field(default=100.0, ge=0)
    rate_limit_tenant_burst: int = Field(default=200, ge=1)
    rate_limit_key_per_s: float = Field(default=50.0, ge=0)
    rate_limit_key_burst: int = Field(default=100, ge=1)
    database_rls: bool = True

    # --- hardening: request heads, failed authentication, Redis, speech bounds ------
    max_header_bytes: int = Field(default=64 * 1024, ge=4096, le=16 * 1024 * 1024)
    max_headers: int = Field(default=100, ge=10, le=10_000)
    auth_failures_per_window: int = Field(default=20, ge=0)
    auth_failure_window_s: float = Field(default=60.0, gt=0)
    redis_timeout_s: float = Field(default=0.25, gt=0, le=10)
    redis_cooldown_s: float = Field(default=30.0, gt=0)
    #: The pub/sub channel on which instances tell each other a conversation ended or was taken
    #: over (deployments sharing one Redis need different channels).
    redis_notice_channel: str = Field(default="visavis:owner-notices", min_length=1)
    tts_max_sentence_chars: int = Field(default=400, ge=20, le=10_000)
    tts_max_sentence_s: float = Field(default=40.0, gt=0)
    tts_max_reply_chars: int = Field(default=4000, ge=100)
    tts_max_reply_s: float = Field(default=240.0, gt=0)
    # --- lip-sync over HTTP (POST /v1/lipsync) ---------------------------------------
    lipsync_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    lipsync_max_concurrent: int = Field(default=2, ge=1, le=64)
    # --- digital twins --------------------------------------------------------------
    # Confidence (0..1) a memory item needs before a twin answers from it.
    twin_confidence_threshold: float = Field(default=0.42, ge=0, le=1)
    # In development, the first run seeds a demo twin (offline) into the 'local' tenant.
    twin_demo_seed: bool = True
    # How long a twin's memory index is used before its version is confirmed again (another
    # instance's writes show within this); 0 confirms at every question.
    twin_memory_recheck_s: float = Field(default=1.0, ge=0, le=60)

    # --- voice cloning --------------------------------------------------------------
    elevenlabs_api_key: SecretStr | None = None
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    gptsovits_base_url: str | None = None
    # A directory this instance writes reference clips to, and where the GPT-SoVITS server
    # sees the same directory.
    gptsovits_local_dir: Path | None = None
    gptsovits_server_dir: str | None = None
    cloning_timeout_s: float = Field(default=120.0, gt=0)
    # A running job writes a heartbeat every quarter of this; one silent this long lost its
    # server (a crash, a kill): it shows as failed and can be started again.
    cloning_job_stale_s: float = Field(default=120.0, ge=4.0)
    # --- speech input (STT, voice activity, audio API) -------------------------------
    stt_engine: Literal["faster-whisper", "moonshine", "openai"] = "faster-whisper"
    # The packaged Whisper model for live turns, and the one for whole files (the audio API,
    # ``visavis transcribe``); ``stt_whisper_model_path`` overrides both.
    stt_whisper_model: Literal["tiny.en", "base"] = "tiny.en"
    stt_file_whisper_model: Literal["tiny.en", "base"] = "base"
    # Whisper's beam for live turns (1: greedy) and for whole files, where accuracy is worth
    # the CPU (bench/stt.py: base's word errors 10.3 % greedy, 8.4 % with 5, at 12x real time).
    stt_whisper_beam_size: int = Field(default=1, ge=1, le=10)
    stt_file_whisper_beam_size: int = Field(default=5, ge=1, le=10)
    stt_whisper_model_path: Path | None = None
    # A finer packaged model for live turns while the CPU has room for it (speech/stt/
    # finer_when_idle.py): a turn's words decoded at the pause by this model where it can
    # finish before the turn ends and no other decode runs or waits; "" (off): always the above.
    stt_idle_whisper_model: Literal["", "tiny.en", "base"] = ""
    # Load the live recognizer at startup, beside the voice's warm-up: otherwise the first
    # person who speaks waits for it (about a second) and hears no partial words meanwhile.
    stt_warm_up: bool = True
    stt_threads: int = Field(default=1, ge=0, le=64)
    stt_concurrency: int = Field(default=0, ge=0, le=64)
    stt_partial_interval_ms: int = Field(default=500, ge=0, le=10000)
    stt_openai_base_url: str = "https://api.openai.com/v1"
    stt_openai_api_key: SecretStr | None = None
    stt_openai_model: str = "whisper-1"
    stt_timeout_s: float = Field(default=30.0, gt=0)
    stt_vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    stt_end_silence_ms: int = Field(default=600, ge=100, le=5000)
    stt_min_speech_ms: int = Field(default=200, ge=0, le=2000)
    # Silence after which the words so far are decoded and the answer prepared (0: off; at
    # least MIN_PAUSE_MS).
    stt_pause_ms: int = Field(default=200, ge=0, le=5000)
    # Silence that ends a turn whose words at the pause sound finished (0: always the above).
    stt_finished_end_silence_ms: int = Field(default=0, ge=0, le=5000)
    # The audio turn model (Smart Turn v3, from the pinned pipecat-ai package): where the words
    # at the pause sound finished and the model judges the turn complete (probability at least
    # the threshold), the turn ends after the shorter silence. Needs ``stt_pause_ms``.
    stt_turn_model: bool = False
    stt_turn_model_end_silence_ms: int = Field(default=300, ge=100, le=5000)
    stt_turn_model_threshold: float = Field(default=0.5, gt=0, lt=1)
    stt_max_utterance_s: float = Field(default=60.0, ge=1, le=600)
    stt_max_audio_s: float = Field(default=600.0, gt=0, le=14400)
    stt_max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # --- operations: metrics, analytics events, webhooks ----------------------------
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=20, ge=1, le=100)
    webhook_retry_base_s: float = Field(default=5.0, gt=0)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0)
    webhook_disable_after_failures: int = Field(default=50, ge=1)
    webhook_disable_after_s: float = Field(default=86400.0, ge=0)
    webhook_poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    webhook_delivery: bool = True
    voice_input_enabled: bool = True
    voice_barge_in_min_speech_ms: int = Field(default=120, ge=0, le=2000)
    voice_barge_in_min_level_dbfs: float = Field(default=-40.0, ge=-90.0, le=0.0)

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.env == "production":
            key = self.secret_key.get_secret_value()
            if key == DEFAULT_SECRET_KEY or len(key) < 32:
                raise ValueError(
                    "VISAVIS_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production (for example: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')"
                )
        return self

    @model_validator(mode="after")
    def _refuse_weak_admin_key_in_production(self) -> Settings:
        key = self.admin_api_key
        if self.env == "production" and key is not None and len(key.get_secret_value()) < 32:
            raise ValueError(
                "VISAVIS_ADMIN_API_KEY must be at least 32 random characters in production"
            )
        return self

    @model_validator(mode="after")
    def _refuse_a_pause_too_short_to_decode(self) -> Settings:
        # The pause's audio keeps 200 ms after the last voiced sound (speech/vad.py TAIL_S),
        # so the pause cannot be shorter; a pause at or past the end silence is simply off.
        if 0 < self.stt_pause_ms < MIN_PAUSE_MS:
            raise ValueError(
                f"VISAVIS_STT_PAUSE_MS must be 0 (off) or at least {MIN_PAUSE_MS} ms "
                f"(got {self.stt_pause_ms})"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
