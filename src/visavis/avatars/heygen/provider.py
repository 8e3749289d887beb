"""HeyGen Streaming as an ``AvatarProvider``: LiveKit media, speech by ``repeat`` tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from visavis.avatars.base import (
    ActiveSession,
    AvatarProvider,
    DataSink,
    ProviderLimits,
    ProviderSession,
    SessionRequest,
    SpeakResult,
)
from visavis.avatars.heygen.api import HeyGenAPI, HeyGenVoice, Quality
from visavis.tenancy.costs import BillingRule

#: HeyGen ends a session after this long unless ``streaming.new`` says otherwise.
DEFAULT_SESSION_LIMIT_S = 600.0
QUALITIES: dict[str, Quality] = {"auto": "medium", "high": "high", "medium": "medium", "low": "low"}


@dataclass(frozen=True, slots=True, kw_only=True)
class HeyGenOptions:
    """Per-deployment choices: idle timeout, default quality and voice, price."""

    idle_timeout_s: int = 120
    default_quality: Quality = "medium"
    voice_id: str | None = None
    voice_rate: float | None = None
    price_per_minute_usd: float = 0.20

    def __post_init__(self) -> None:
        if not 30 <= self.idle_timeout_s <= 3600:
            raise ValueError("HeyGen's activity_idle_timeout must be within 30–3600 s")


class HeyGenProvider(AvatarProvider):
    """Sessions on HeyGen; the browser joins their LiveKit room."""

    name = "heygen"

    def __init__(self, api: HeyGenAPI, options: HeyGenOptions | None = None) -> None:
        self.api = api
        self.options = options or HeyGenOptions()
        idle = float(self.options.idle_timeout_s)
        self.limits = ProviderLimits(
            message_bytes=1000,
            idle_timeout_s=idle,
            max_session_s=DEFAULT_SESSION_LIMIT_S,
            # A third of the idle timeout: two keep-alives may fail before HeyGen gives up.
            keep_alive_interval_s=idle / 3,
            ms_per_char=60.0,
        )
        self.billing = BillingRule(
            kind="per_second_after_minimum",
            price_per_minute_usd=self.options.price_per_minute_usd,
            minimum_s=30.0,
        )

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        if not request.avatar_id:
            raise ValueError("a HeyGen session needs an avatar_id")
        voice = None
        if request.voice_id or self.options.voice_id or self.options.voice_rate:
            voice = HeyGenVoice(
                voice_id=request.voice_id or self.options.voice_id, rate=self.options.voice_rate
            )
        quality = QUALITIES.get(request.quality or "auto", self.options.default_quality)
        created = await self.api.new_session(
            avatar_id=request.avatar_id,
            quality=quality,
            voice=voice,
            activity_idle_timeout=self.options.idle_timeout_s,
            version="v2",
            language=request.language,
        )
        limit = created.session_duration_limit_s or DEFAULT_SESSION_LIMIT_S
        return ProviderSession(
            provider=self.name,
            session_id=created.session_id,
            media={"kind": "livekit", "url": created.url, "access_token": created.access_token},
            expires_at=datetime.now(UTC) + timedelta(seconds=limit),
            max_duration_s=limit,
        )

    async def start(self, session: ProviderSession) -> None:
        await self.api.start(session.session_id)

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        result = await self.api.task(
            session.session_id, text, task_type="repeat", task_mode="async"
        )
        return SpeakResult(duration_ms=result.duration_ms)

    async def interrupt(self, session: ProviderSession, *, sink: DataSink) -> None:
        await self.api.interrupt(session.session_id)

    async def keep_alive(self, session: ProviderSession) -> None:
        await self.api.keep_alive(session.session_id)

    async def stop(self, session_id: str) -> bool:
        return await self.api.stop(session_id, missing_ok=True)

    async def list_active(self) -> list[ActiveSession]:
        return [
            ActiveSession(
                session_id=listed.session_id,
                status=listed.status,
                created_at=(
                    datetime.fromtimestamp(listed.created_at, UTC)
                    if listed.created_at is not None
                    else None
                ),
            )
            for listed in await self.api.list_v1()
        ]

    async def aclose(self) -> None:
        await self.api.aclose()
