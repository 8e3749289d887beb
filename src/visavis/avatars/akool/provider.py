"""Akool Live Avatar as an ``AvatarProvider``: Agora media, speech as paced data-stream messages.

The server cannot join Agora itself: every message is built and paced here (≤ 950 encoded bytes
each, ≤ the data stream's bytes per second) and handed to a sink that sends it to the browser,
which relays it unchanged. Sessions are created with ``mode_type: 1`` (retell our sentences
verbatim; 2 would answer them with Akool's own LLM).

Billing: Akool pre-charges the booked duration and refunds what was not used, so a session
costs the seconds it really streamed. Akool does not document the status of a closed session
(it may still say 3), so the sessions this provider closed are remembered and never closed or
listed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from visavis.avatars.akool import messages
from visavis.avatars.akool.api import AkoolAPI, AkoolSession
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
from visavis.avatars.pacing import ByteBudget, BytePacer
from visavis.tenancy.costs import BillingRule
from visavis.timing import Clock

#: Agora's data stream: ≤ 1 KiB per message, ≤ 6 KB per second. We pace below both, with
#: margin for the jitter of the browser relay.
AGORA_BYTES_PER_SECOND = 6000
PACED_BYTES_PER_WINDOW = 5000
OPEN_STATUSES = (1, 2, 3)
#: Retell the text verbatim (Akool's ``mode_type``; 2 is dialogue through its own LLM).
RETELL = 1
#: How many closed session ids are remembered (the oldest are forgotten first).
CLOSED_MEMORY = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AkoolOptions:
    """Per-deployment choices: session length (pre-charged), polling, price."""

    duration_s: int = 600
    poll_interval_s: float = 0.5
    ready_timeout_s: float = 30.0
    price_per_minute_usd: float = 0.10
    stream_type: str = "agora"

    def __post_init__(self) -> None:
        if not 10 <= self.duration_s <= 3600:
            raise ValueError("an Akool session lasts 10–3600 s")


class AkoolProvider(AvatarProvider, AvatarCatalogue):
    """Sessions on Akool; the browser joins their Agora channel and relays our messages."""

    name = "akool"

    def __init__(
        self, api: AkoolAPI, options: AkoolOptions | None = None, *, clock: Clock | None = None
    ) -> None:
        self.api = api
        self.clock = clock
        self.options = options or AkoolOptions()
        self.limits = ProviderLimits(
            message_bytes=messages.MESSAGE_BYTES_BUDGET,
            bytes_per_second=AGORA_BYTES_PER_SECOND,
            max_session_s=float(self.options.duration_s),
            ms_per_char=65.0,
        )
        self.billing = BillingRule(
            kind="per_second_used", price_per_minute_usd=self.options.price_per_minute_usd
        )
        self._pacers: dict[str, BytePacer] = {}
        self._closed: dict[str, None] = {}  # insertion-ordered set

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        if not request.avatar_id:
            raise ValueError("an Akool session needs an avatar_id")
        created = await self.api.create_session(
            avatar_id=request.avatar_id,
            duration_s=self.options.duration_s,
            stream_type="agora",
            voice_id=request.voice_id,
            language=request.language,
            mode_type=RETELL,
        )
        return self._session(created)

    def _session(self, created: AkoolSession) -> ProviderSession:
        credentials = created.credentials
        media = {
            "kind": "agora",
            "app_id": credentials.get("agora_app_id"),
            "channel": credentials.get("agora_channel"),
            "uid": credentials.get("agora_uid"),
            "token": credentials.get("agora_token"),
        }
        return ProviderSession(
            provider=self.name,
            session_id=created.session_id,
            media=media,
            expires_at=datetime.now(UTC) + timedelta(seconds=self.options.duration_s),
            requested_duration_s=float(self.options.duration_s),
            max_duration_s=float(self.options.duration_s),
        )

    async def start(self, session: ProviderSession) -> None:
        await self.api.wait_until_ready(
            session.session_id,
            poll_interval_s=self.options.poll_interval_s,
            timeout_s=self.options.ready_timeout_s,
        )

    def _pacer(self, session_id: str) -> BytePacer:
        pacer = self._pacers.get(session_id)
        if pacer is None:
            budget = ByteBudget(
                bytes_per_window=PACED_BYTES_PER_WINDOW,
                max_message_bytes=messages.MESSAGE_BYTES_BUDGET,
                burst_bytes=messages.MESSAGE_BYTES_BUDGET,
            )
            pacer = self._pacers[session_id] = BytePacer(budget, clock=self.clock)
        return pacer

    def chat_messages(self, text: str) -> list[bytes]:
        """``text`` as one chat message in chunks of ≤ 950 encoded bytes each."""
        mid = messages.new_message_id()
        return messages.chat_messages(mid, split_chat_text(text, mid))

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        pacer = self._pacer(session.session_id)
        for data in self.chat_messages(text):
            await pacer.acquire(len(data))
            await sink(data.decode("utf-8"))
        return SpeakResult(duration_ms=None)

    async def interrupt(self, session: ProviderSession, *, sink: DataSink) -> None:
        data = messages.interrupt_message()
        await self._pacer(session.session_id).acquire(len(data))
        await sink(data.decode("utf-8"))

    async def keep_alive(self, session: ProviderSession) -> None:
        """Akool sessions live for their booked duration: nothing to refresh."""

    async def stop(self, session_id: str) -> bool:
        """Close the session once: a session this provider closed is never closed again."""
        self._pacers.pop(session_id, None)
        if session_id in self._closed:
            return False
        closed = await self.api.close_session(session_id, missing_ok=True)
        self._remember_closed(session_id)
        return closed

    def _remember_closed(self, session_id: str) -> None:
        self._closed[session_id] = None
        while len(self._closed) > CLOSED_MEMORY:
            del self._closed[next(iter(self._closed))]

    async def list_active(self) -> list[ActiveSession]:
        """Sessions Akool reports queueing, processing or streaming, less those we closed."""
        active: list[ActiveSession] = []
        for status in OPEN_STATUSES:
            page = await self.api.list_sessions(status=status)
            active += [
                ActiveSession(session_id=s.session_id, status=str(s.status))
                for s in page.sessions
                if s.session_id not in self._closed
            ]
        return active

    async def list_avatars(self) -> list[AvatarInfo]:
        avatars: list[AvatarInfo] = []
        for item in await self.api.list_avatars():
            avatar_id = item.get("avatar_id") or item.get("_id")
            if not isinstance(avatar_id, str):
                continue
            name = item.get("name")
            preview = item.get("url") or item.get("thumbnailUrl") or item.get("preview_url")
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
        self._pacers.clear()
        await self.api.aclose()


def split_chat_text(text: str, mid: str) -> list[str]:
    """Chunks of one chat message that rejoin to ``text`` exactly, each within its budget.

    Cut at word boundaries (the whitespace stays with the word before it, because Akool joins
    the chunks back as they are), counting bytes as JSON escapes and encodes them; a word too
    long for a chunk is cut between characters, never inside one.
    """
    chunks: list[str] = []
    current = ""
    for token in _TOKENS.findall(text):
        budget = messages.chat_text_budget(mid, len(chunks))
        if messages.encoded_text_bytes(current + token) <= budget:
            current += token
            continue
        if current:
            chunks.append(current)
            current = ""
            budget = messages.chat_text_budget(mid, len(chunks))
        if messages.encoded_text_bytes(token) <= budget:
            current = token
            continue
        for char in token:
            if current and messages.encoded_text_bytes(current + char) > budget:
                chunks.append(current)
                current = ""
                budget = messages.chat_text_budget(mid, len(chunks))
            current += char
    if current or not chunks:
        chunks.append(current)
    return chunks


_TOKENS = re.compile(r"\S+\s*|\s+")
