"""An audio-driven face in process, for pipeline tests on virtual time (no sockets).

It keeps what a real face would receive of our audio — utterances, their bytes and when each
slice came — and fails on cue, so the pipeline's timing, interruption and failover can be
checked against what the face really got.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from visavis.avatars.base import (
    AudioDrivenProvider,
    DataSink,
    FaceEvent,
    FaceListener,
    ProviderSession,
    SessionRequest,
    SpeakResult,
)
from visavis.avatars.errors import ProviderError
from visavis.testing import FakeAvatarProvider

RATE = 16000


@dataclass
class FaceUtterance:
    """One utterance the face received."""

    session_id: str
    began_at: float
    pcm: bytearray = field(default_factory=bytearray)
    pushed_at: list[float] = field(default_factory=list)
    ended: bool = False
    interrupted: bool = False

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


class FakeFace(FakeAvatarProvider, AudioDrivenProvider):
    """A :class:`FakeAvatarProvider` that takes our audio (16 kHz, like Simli).

    ``fail_on_utterance``: the utterances (counted from 1, across sessions) whose first audio
    fails. ``speak`` (text) is refused: the pipeline must send audio.
    """

    name = "fake"
    audio_sample_rate = RATE

    def __init__(
        self,
        *,
        fail_on_utterance: frozenset[int] = frozenset(),
        start_delays_s: tuple[float, ...] = (0.0,),
        session_s: float | None = None,
    ) -> None:
        super().__init__(start_delays_s=start_delays_s, session_s=session_s)
        self.fail_on_utterance = fail_on_utterance
        self.utterances: list[FaceUtterance] = []
        self.requests: list[SessionRequest] = []
        self.listeners: dict[str, FaceListener | None] = {}
        self._open: dict[str, FaceUtterance] = {}
        self._count = itertools.count(1)

    async def create_session(self, request: SessionRequest) -> ProviderSession:
        self.requests.append(request)
        return await super().create_session(request)

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        raise AssertionError("an audio-driven face is given audio, never text")

    async def begin_utterance(self, session: ProviderSession) -> str:
        number = next(self._count)
        utterance = FaceUtterance(session.session_id, asyncio.get_running_loop().time())
        self._open[session.session_id] = utterance
        if number in self.fail_on_utterance:
            raise ProviderError("the fake face failed on cue", provider=self.name, status=500)
        self.utterances.append(utterance)
        return str(number)

    async def push_audio(self, session: ProviderSession, pcm: bytes, sample_rate: int) -> None:
        assert sample_rate == RATE, "the voice synthesizes at the face's own rate"
        utterance = self._open.get(session.session_id)
        assert utterance is not None, "push_audio before begin_utterance"
        utterance.pcm += pcm
        utterance.pushed_at.append(asyncio.get_running_loop().time())

    async def end_utterance(self, session: ProviderSession) -> float:
        utterance = self._open.pop(session.session_id, None)
        if utterance is None:
            return 0.0
        utterance.ended = True
        return utterance.seconds

    async def interrupt(self, session: ProviderSession, *, sink: DataSink) -> None:
        await super().interrupt(session, sink=sink)
        utterance = self._open.pop(session.session_id, None)
        if utterance is not None:
            utterance.interrupted = True

    def set_listener(self, session: ProviderSession, listener: FaceListener | None) -> None:
        self.listeners[session.session_id] = listener

    def close_by_provider(self, session_id: str, reason: str) -> None:
        """The provider ends the session on its own (idle timeout, out of credit)."""
        self.sessions[session_id].stopped = True
        listener = self.listeners.get(session_id)
        if listener is not None:
            listener(FaceEvent("closed", None, 0.0, reason))
