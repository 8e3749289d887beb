"""A fake avatar provider in process: sessions that start, speak, fail and expire on cue."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
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
from visavis.avatars.errors import ProviderError
from visavis.tenancy.costs import BillingRule


@dataclass
class FakeSession:
    """What the fake provider saw of one session."""

    session_id: str
    spoken: list[str] = field(default_factory=list)
    #: When each text was handed over (event-loop time, seconds).
    spoken_at: list[float] = field(default_factory=list)
    interrupts: int = 0
    keep_alives: int = 0
    stopped: bool = False


class FakeAvatarProvider(AvatarProvider):
    """An avatar provider with knobs, for pipeline tests (no HTTP).

    - ``start_delays_s``: how long each new session takes to start (the last value repeats);
    - ``fail_on_speak``: the speak calls (counted from 1, across sessions) that fail;
    - ``session_s``: sessions expire this long (wall clock) after they start, and are renewed;
    - ``ms_per_char``: how long the avatar says it speaks each character.
    """

    name = "fake"

    def __init__(
        self,
        *,
        start_delays_s: tuple[float, ...] = (0.0,),
        fail_on_speak: frozenset[int] = frozenset(),
        session_s: float | None = None,
        ms_per_char: float = 60.0,
        price_per_minute_usd: float = 0.1,
    ) -> None:
        self.start_delays_s = start_delays_s
        self.fail_on_speak = fail_on_speak
        self.session_s = session_s
        self.ms_per_char = ms_per_char
        self.limits = ProviderLimits(
            message_bytes=200,
            max_session_s=session_s,
            keep_alive_interval_s=30.0,
            ms_per_char=ms_per_char,
        )
        self.billing = BillingRule(
            kind="per_second_after_minimum", price_per_minute_usd=price_per_minute_usd
        )
        self.sessions: dict[str, FakeSession] = {}
        self.speak_calls = 0
        self._ids = itertools.count(1)

    def session(self, index: int) -> FakeSession:
        """The ``index``-th session created (0 = the first)."""
        return list(self.sessions.values())[index]

    @property
    def spoken(self) -> list[str]:
        """Everything any session said, in order."""
        return [text for session in self.sessions.values() for text in session.spoken]

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        number = next(self._ids)
        session_id = f"fake-{number}"
        self.sessions[session_id] = FakeSession(session_id)
        expires = None
        if self.session_s is not None:
            expires = datetime.now(UTC) + timedelta(seconds=self.session_s)
        return ProviderSession(
            provider=self.name,
            session_id=session_id,
            media={"kind": "fake", "session": session_id},
            expires_at=expires,
            max_duration_s=self.session_s,
        )

    async def start(self, session: ProviderSession) -> None:
        index = len(self.sessions) - 1
        await asyncio.sleep(self.start_delays_s[min(index, len(self.start_delays_s) - 1)])

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        self.speak_calls += 1
        if self.speak_calls in self.fail_on_speak:
            raise ProviderError("the fake avatar failed on cue", provider=self.name, status=500)
        record = self.sessions[session.session_id]
        record.spoken.append(text)
        record.spoken_at.append(asyncio.get_running_loop().time())
        return SpeakResult(duration_ms=len(text) * self.ms_per_char)

    async def interrupt(self, session: ProviderSession, *, sink: DataSink) -> None:
        self.sessions[session.session_id].interrupts += 1

    async def keep_alive(self, session: ProviderSession) -> None:
        self.sessions[session.session_id].keep_alives += 1

    async def stop(self, session_id: str) -> bool:
        session = self.sessions.get(session_id)
        if session is None or session.stopped:
            return False
        session.stopped = True
        return True

    async def list_active(self) -> list[ActiveSession]:
        return [ActiveSession(s.session_id) for s in self.sessions.values() if not s.stopped]
