"""Tavus as an ``AvatarProvider``: an echo-mode conversation says our sentences verbatim.

The browser joins the conversation's Daily room and relays our messages as app messages
(``conversation.echo`` with ``modality: text``; ``conversation.interrupt``), like Akool's data
stream: the server holds no WebRTC connection. Tavus's own voice speaks the text (audio echo
would need the server in the room). Billing starts when the conversation is created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from visavis.avatars.base import (
    ActiveSession,
    AvatarCatalogue,
    AvatarInfo,
    AvatarProvider,
    DataSink,
    ProviderLimits,
    ProviderSession,
    SessionRequest,
    SpeakResult,
)
from visavis.avatars.tavus.api import PROVIDER, TavusAPI
from visavis.tenancy.costs import BillingRule


@dataclass(frozen=True, slots=True, kw_only=True)
class TavusOptions:
    """Per-deployment choices: the echo PAL, call length, price."""

    pal_id: str
    max_call_duration_s: int = 1800
    price_per_minute_usd: float = 0.37
    test_mode: bool = False


def echo_message(conversation_id: str, text: str) -> str:
    """The app message that makes the face say ``text`` verbatim."""
    return json.dumps(
        {
            "message_type": "conversation",
            "event_type": "conversation.echo",
            "conversation_id": conversation_id,
            "properties": {"modality": "text", "text": text},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def interrupt_message(conversation_id: str) -> str:
    """The app message that stops the face mid-sentence."""
    return json.dumps(
        {
            "message_type": "conversation",
            "event_type": "conversation.interrupt",
            "conversation_id": conversation_id,
        },
        separators=(",", ":"),
    )


class TavusProvider(AvatarProvider, AvatarCatalogue):
    """Conversations on Tavus; the browser relays our echo messages into the room."""

    name = PROVIDER

    def __init__(self, api: TavusAPI, options: TavusOptions) -> None:
        self.api = api
        self.options = options
        self.limits = ProviderLimits(
            message_bytes=4000,
            max_session_s=float(options.max_call_duration_s),
            ms_per_char=65.0,
        )
        self.billing = BillingRule(
            kind="per_started_minute",
            price_per_minute_usd=options.price_per_minute_usd,
            minimum_s=60.0,
        )

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        created = await self.api.create_conversation(
            pal_id=self.options.pal_id,
            face_id=request.avatar_id,
            max_call_duration_s=self.options.max_call_duration_s,
            language=request.language,
            test_mode=self.options.test_mode,
        )
        limit = float(self.options.max_call_duration_s)
        return ProviderSession(
            provider=self.name,
            session_id=created.conversation_id,
            media={"kind": "daily", "url": created.conversation_url},
            expires_at=datetime.now(UTC) + timedelta(seconds=limit),
            max_duration_s=limit,
        )

    async def start(self, session: ProviderSession) -> None:
        """The conversation is live once created; the browser joins its room."""

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        await sink(echo_message(session.session_id, text))
        return SpeakResult(duration_ms=None)

    async def interrupt(self, session: ProviderSession, *, sink: DataSink) -> None:
        await sink(interrupt_message(session.session_id))

    async def keep_alive(self, session: ProviderSession) -> None:
        """Tavus times out on an absent participant, not on silence: the page is there."""

    async def stop(self, session_id: str) -> bool:
        return await self.api.end_conversation(session_id)

    async def list_active(self) -> list[ActiveSession]:
        return [
            ActiveSession(session_id=c.conversation_id, status=c.status, created_at=c.created_at)
            for c in await self.api.list_active()
        ]

    async def list_avatars(self) -> list[AvatarInfo]:
        avatars: list[AvatarInfo] = []
        for face in await self.api.list_faces():
            face_id = face.get("face_id") or face.get("replica_id")
            if not isinstance(face_id, str):
                continue
            name = face.get("face_name") or face.get("replica_name")
            preview = face.get("thumbnail_video_url") or face.get("thumbnail_url")
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
        await self.api.aclose()
