"""LiveAvatar as an ``AvatarProvider``: LITE (our voice drives their face) or FULL (their voice).

LITE, the default: the server opens the session, connects to its ``ws_url`` and streams our
TTS audio there (:mod:`visavis.avatars.audio_stream`); half the credits of FULL, every voice
we have works, and transcript timing comes from our own audio. FULL: LiveAvatar's voice says
our sentences verbatim (``avatar.speak_text``), published by the browser on the LiveKit topic
``agent-control`` (:mod:`visavis.avatars.liveavatar.control`). Either way the browser joins the
LiveKit room with ``livekit_client_token``; the avatar's identity there is ``heygen``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from visavis.avatars.audio_stream import AudioChunking, AudioStreamingProvider
from visavis.avatars.base import (
    ActiveSession,
    AvatarCatalogue,
    AvatarInfo,
    DataSink,
    FaceEvent,
    ProviderLimits,
    ProviderSession,
    SessionRequest,
    SpeakResult,
)
from visavis.avatars.errors import ProviderProtocolError
from visavis.avatars.liveavatar import control
from visavis.avatars.liveavatar.api import (
    PROVIDER,
    SANDBOX_AVATAR_ID,
    EndReason,
    LiveAvatarAPI,
    SessionToken,
)
from visavis.avatars.liveavatar.socket import LiteSocket
from visavis.avatars.transport import JSONDict
from visavis.speech.tts.base import TTSEngine
from visavis.tenancy.costs import BillingRule

IDLE_TIMEOUT_S = 300.0
#: Below the 5-minute idle timeout with room for one failed keep-alive (every 2–3 min).
KEEP_ALIVE_S = 120.0
DEFAULT_SESSION_LIMIT_S = 1200.0
CREDITS_PER_MINUTE = {"FULL": 2, "LITE": 1}
SANDBOX_SESSION_S = 60.0
QUALITIES = {"auto": None, "high": "high", "medium": "medium", "low": "low"}
AVATAR_IDENTITY = "heygen"
#: Our stop reasons (avatar session events) as LiveAvatar's end reasons.
END_REASONS: dict[str, EndReason] = {
    "conversation_ended": "USER_CLOSED",
    "user_disabled": "USER_CLOSED",
    "client_gone": "USER_DISCONNECTED",
    "max_duration": "MAX_DURATION_REACHED",
    "orphaned_at_provider": "ZOMBIE_SESSION_REAP",
    "stopped_here": "ZOMBIE_SESSION_REAP",
    "provider_error": "SERVER_ERROR",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveAvatarOptions:
    """Per-deployment choices: mode, sandbox, FULL mode's persona, price per credit."""

    mode: Literal["LITE", "FULL"] = "LITE"
    sandbox: bool = False
    voice_id: str | None = None
    context_id: str | None = None
    language: str = "en"
    max_session_duration_s: int | None = None
    price_per_credit_usd: float = 0.10
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in CREDITS_PER_MINUTE:
            raise ValueError("LiveAvatar's mode is LITE or FULL")
        if self.mode == "FULL" and not self.context_id:
            # Without a context the FULL avatar stays silent, whatever it is told.
            raise ValueError("FULL mode needs a context_id (VISAVIS_LIVEAVATAR_CONTEXT_ID)")


class LiveAvatarProvider(AudioStreamingProvider, AvatarCatalogue):
    """Sessions on LiveAvatar; LITE streams our audio, FULL relays text through the browser."""

    name = PROVIDER
    chunking = AudioChunking(sample_rate=24000, first_chunk_ms=600, chunk_ms=1000)

    def __init__(
        self,
        api: LiveAvatarAPI,
        options: LiveAvatarOptions | None = None,
        *,
        tts: TTSEngine | None = None,
    ) -> None:
        super().__init__(tts=tts)
        self.api = api
        self.options = options or LiveAvatarOptions()
        limit = SANDBOX_SESSION_S if self.options.sandbox else DEFAULT_SESSION_LIMIT_S
        if self.options.max_session_duration_s is not None:
            limit = float(self.options.max_session_duration_s)
        self.limits = ProviderLimits(
            message_bytes=1_000_000,
            idle_timeout_s=IDLE_TIMEOUT_S,
            max_session_s=limit,
            keep_alive_interval_s=KEEP_ALIVE_S,
            ms_per_char=60.0,
        )
        credits = CREDITS_PER_MINUTE[self.options.mode]
        price = 0.0 if self.options.sandbox else credits * self.options.price_per_credit_usd
        self.billing = BillingRule(
            kind="per_started_minute", price_per_minute_usd=price, minimum_s=60.0
        )
        self._tokens: dict[str, SessionToken] = {}
        self._ws_urls: dict[str, str] = {}

    @property
    def mode(self) -> str:
        return self.options.mode

    @property
    def takes_audio(self) -> bool:
        """LITE takes our audio; FULL speaks text with LiveAvatar's voice."""
        return self.options.mode == "LITE"

    def token_body(self, request: SessionRequest) -> JSONDict:
        """The ``/v1/sessions/token`` body for this deployment's mode."""
        options = self.options
        avatar_id = SANDBOX_AVATAR_ID if options.sandbox else request.avatar_id
        if not avatar_id:
            raise ValueError("a LiveAvatar session needs an avatar_id")
        body: JSONDict = {"mode": options.mode, "avatar_id": avatar_id}
        if options.sandbox:
            body["is_sandbox"] = True
        quality = QUALITIES.get(request.quality or "auto")
        if quality is not None:
            body["video_settings"] = {"quality": quality}
        if options.max_session_duration_s is not None:
            body["max_session_duration"] = options.max_session_duration_s
        if options.mode == "FULL":
            persona: JSONDict = {
                "context_id": options.context_id,
                "language": request.language or options.language,
            }
            voice = request.voice_id or options.voice_id
            if voice:
                persona["voice_id"] = voice
            body["avatar_persona"] = persona
        return body

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        token = await self.api.create_token(self.token_body(request))
        started = await self.api.start(token)
        self._tokens[token.session_id] = token
        if started.ws_url:
            self._ws_urls[token.session_id] = started.ws_url
        limit = started.max_session_duration_s or self.limits.max_session_s
        media: dict[str, Any] = {
            "kind": "livekit",
            "url": started.livekit_url,
            "access_token": started.livekit_client_token,
            "avatar_identity": AVATAR_IDENTITY,
        }
        if self.options.mode == "FULL":
            media["control_topic"] = control.CONTROL_TOPIC
            media["response_topic"] = control.RESPONSE_TOPIC
        return ProviderSession(
            provider=self.name,
            session_id=token.session_id,
            media=media,
            expires_at=datetime.now(UTC) + timedelta(seconds=limit) if limit else None,
            max_duration_s=limit,
            channel_url=started.ws_url,
        )

    async def start(self, session: ProviderSession) -> None:
        """LITE: open the socket and wait for ``connected``; FULL: the browser does the rest."""
        if self.options.mode == "FULL":
            return
        url = self._ws_urls.get(session.session_id) or session.channel_url
        if url is None:
            raise ProviderProtocolError(
                "a LITE session was started without ws_url", provider=PROVIDER
            )
        socket = LiteSocket(url, connect_timeout_s=self.options.connect_timeout_s)
        await socket.connect()
        self.attach_channel(session.session_id, socket)

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        """FULL: one ``avatar.speak_text`` packet via the browser; LITE: our voice's audio."""
        if self.options.mode == "FULL":
            event_id = str(uuid.uuid4())
            await sink(control.speak_text(text, event_id=event_id))
            return SpeakResult(duration_ms=None, event_id=event_id)
        return await super().speak(session, text, sink=sink)

    def relayed_event(self, data: str) -> FaceEvent | None:
        """FULL: ``avatar.speak_started/ended`` and ``session.stopped`` from ``agent-response``."""
        return control.parse_response(data) if self.options.mode == "FULL" else None

    async def interrupt(self, session: ProviderSession, *, sink: DataSink | None = None) -> None:
        if self.options.mode == "FULL":
            if sink is not None:
                await sink(control.interrupt())
            return
        await super().interrupt(session, sink=sink)

    async def keep_alive(self, session: ProviderSession) -> None:
        """LITE: over the socket; FULL: the REST keep-alive."""
        if self.options.mode == "FULL":
            await self.api.keep_alive(session.session_id)
            return
        await super().keep_alive(session)

    async def stop(self, session_id: str, *, reason: str | None = None) -> bool:
        """Close the socket, then stop at LiveAvatar with the API key (works after a crash).

        ``reason`` is ours (``conversation_ended``, ``client_gone``, ...), sent as LiveAvatar's
        end reason; unknown or none is ``USER_CLOSED``.
        """
        await self.detach_channel(session_id)
        self._tokens.pop(session_id, None)
        self._ws_urls.pop(session_id, None)
        end_reason = END_REASONS.get(reason or "", "USER_CLOSED")
        return await self.api.stop(session_id, reason=end_reason)

    async def list_active(self) -> list[ActiveSession]:
        return [
            ActiveSession(session_id=s.session_id, status="active", created_at=s.created_at)
            for s in await self.api.list_all(kind="active")
        ]

    async def list_avatars(self) -> list[AvatarInfo]:
        avatars: list[AvatarInfo] = []
        for item in await self.api.list_avatars():
            avatar_id = item.get("id") or item.get("avatar_id")
            if not isinstance(avatar_id, str):
                continue
            name = item.get("name")
            preview = item.get("preview_url") or item.get("default_preview_url")
            avatars.append(
                AvatarInfo(
                    provider=self.name,
                    avatar_id=avatar_id,
                    name=name if isinstance(name, str) else avatar_id,
                    preview_url=preview if isinstance(preview, str) else None,
                )
            )
        return avatars

    async def aclose(self) -> None:
        await self.close_channels()
        await self.api.aclose()
