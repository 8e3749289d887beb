"""Simli as an ``AvatarProvider``: our voice drives the face (the shared audio-driven path).

Simli takes audio only (16 kHz PCM16), never text, so every sentence is our TTS streamed over
the session's socket; the browser joins Simli's LiveKit room with the credentials that socket
hands out. Simli offers no session listing: a session lives as long as its socket, so a crash
(socket gone) ends it at Simli, and ``maxIdleTime`` bounds anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from visavis.avatars.audio_stream import AudioChunking, AudioStreamingProvider
from visavis.avatars.base import (
    ActiveSession,
    AvatarCatalogue,
    AvatarInfo,
    ProviderLimits,
    ProviderSession,
    SessionRequest,
)
from visavis.avatars.errors import ProviderSessionStateError
from visavis.avatars.simli.api import PROVIDER, SAMPLE_RATE, SimliAPI, SimliSocket
from visavis.speech.tts.base import TTSEngine
from visavis.tenancy.costs import BillingRule


@dataclass(frozen=True, slots=True, kw_only=True)
class SimliOptions:
    """Per-deployment choices: session and idle limits, start timeout, price."""

    max_session_s: int = 3600
    max_idle_s: int = 300
    start_timeout_s: float = 10.0
    price_per_minute_usd: float = 0.05


class SimliProvider(AudioStreamingProvider, AvatarCatalogue):
    """Sessions on Simli, fed with our audio over their socket."""

    name = PROVIDER
    chunking = AudioChunking(sample_rate=SAMPLE_RATE, first_chunk_ms=100, chunk_ms=100)

    def __init__(
        self, api: SimliAPI, options: SimliOptions | None = None, *, tts: TTSEngine | None = None
    ) -> None:
        super().__init__(tts=tts)
        self.api = api
        self.options = options or SimliOptions()
        idle = float(self.options.max_idle_s)
        self.limits = ProviderLimits(
            idle_timeout_s=idle,
            max_session_s=float(self.options.max_session_s),
            keep_alive_interval_s=idle / 3,
            ms_per_char=65.0,
        )
        self.billing = BillingRule(
            kind="per_second_used", price_per_minute_usd=self.options.price_per_minute_usd
        )
        self._sockets: dict[str, SimliSocket] = {}

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        """Get a token and open the socket (it hands out the browser's LiveKit credentials)."""
        if not request.avatar_id:
            raise ValueError("a Simli session needs a face id (avatar_id)")
        token = await self.api.create_token(
            face_id=request.avatar_id,
            max_session_s=self.options.max_session_s,
            max_idle_s=self.options.max_idle_s,
        )
        socket = SimliSocket(
            self.api.socket_url(token), connect_timeout_s=self.options.start_timeout_s
        )
        media = await socket.connect()
        # Simli names no session id of its own: the token identifies the session.
        session_id = f"simli-{token[-24:]}"
        self._sockets[session_id] = socket
        limit = float(self.options.max_session_s)
        return ProviderSession(
            provider=self.name,
            session_id=session_id,
            media={
                "kind": "livekit",
                "url": media.livekit_url,
                "access_token": media.livekit_token,
            },
            expires_at=datetime.now(UTC) + timedelta(seconds=limit),
            max_duration_s=limit,
        )

    async def start(self, session: ProviderSession) -> None:
        """Wait for ``START``; from then on audio flows."""
        socket = self._sockets.get(session.session_id)
        if socket is None:
            raise ProviderSessionStateError(
                f"session {session.session_id} was not created in this process", provider=PROVIDER
            )
        await socket.wait_started(self.options.start_timeout_s)
        self.attach_channel(session.session_id, socket)

    async def stop(self, session_id: str) -> bool:
        """``SKIP`` + ``DONE``, then close the socket; False if it was not open here."""
        socket = self._sockets.pop(session_id, None)
        if socket is None:
            return False
        was_open = socket.state in ("open", "started")
        await socket.finish()
        self._audio.pop(session_id, None)
        await socket.close()
        return was_open

    async def list_active(self) -> list[ActiveSession]:
        """Simli lists no sessions; ours end with their sockets, so none can be orphaned."""
        return []

    async def list_avatars(self) -> list[AvatarInfo]:
        avatars: list[AvatarInfo] = []
        for face in await self.api.list_faces():
            face_id = face.get("id") or face.get("face_id")
            if isinstance(face_id, str):
                name = face.get("name") or face.get("face_name")
                preview = face.get("preview_url") or face.get("thumbnail_url")
                avatars.append(
                    AvatarInfo(
                        provider=self.name,
                        avatar_id=face_id,
                        name=name if isinstance(name, str) else face_id,
                        preview_url=preview if isinstance(preview, str) else None,
                    )
                )
        return avatars

    async def aclose(self) -> None:
        for session_id in list(self._sockets):
            await self.stop(session_id)
        await self.close_channels()
        await self.api.aclose()
