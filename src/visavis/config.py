"""Settings: one pydantic-settings class, read from ``VISAVIS_*`` variables and ``.env``.

Built in the app factory (or the CLI), never at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "visavis-development-secret-change-me"  # noqa: S105 - refused in production
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
    espeak_voice: str = "en-us"

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

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
