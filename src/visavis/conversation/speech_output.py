"""Where a reply is spoken: the one speech-output interface the turn talks to.

A turn starts a reply, pushes its sentences as the agent writes them, and flushes at the end;
``interrupt()`` stops it at once and says what the listener really heard. Three outputs
implement it: the local voice, a provider avatar, and the fallback that moves from the provider
to the local voice without losing a sentence. Both direct outputs share ``PipelinedOutput``:
sentence n+1 is prepared (synthesized, or chunked for the provider) while n is delivered, and
an interruption cancels the pipeline and cuts the utterances at what was played.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, cast

from visavis.conversation.protocol import FRAME_MS
from visavis.speech.errors import UnspeakableTextError
from visavis.speech.speakable import SpeechSkipped
from visavis.timing import ConversationClock


@dataclass(frozen=True, slots=True)
class Heard:
    """What the listener heard of a reply: its text, when it started, and for how long."""

    text: str
    duration_ms: int
    start_ms: int | None


@dataclass
class ReplyFigures:
    """What a reply's speech cost and when it began, filled in as it is delivered."""

    turn_id: int
    sentences: int = 0
    audio_ms: int = 0
    synthesis_s: float = 0.0
    #: On the conversation clock: when the first piece of speech was delivered.
    first_audio_ms: int | None = None
    #: Awaited once, before the first piece is announced (the state becomes "speaking"); until
    #: it returns, pieces are prepared but none is delivered.
    on_first_audio: Callable[[], Awaitable[object]] | None = None
    #: Sentences left unsaid, and why (a voice that cannot speak their script, …).
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ScheduledUtterance:
    """An utterance placed on the conversation's audio timeline."""

    utterance_id: int
    turn_id: int
    text: str
    duration_ms: int
    scheduled_start_ms: int
    frames_sent: int = 0
    timeline_start_ms: int | None = None
    first_sent_ms: int | None = None
    ended_at_ms: int | None = None
    reported_position_ms: int | None = None
    ended: bool = False
    sent_all: bool = False

    @property
    def start_ms(self) -> int:
        """When it started playing on the conversation's audio timeline."""
        if self.timeline_start_ms is not None:
            return self.timeline_start_ms
        return self.scheduled_start_ms

    @property
    def end_ms(self) -> int:
        """When it stopped playing: the client's word when it said so, else start + length."""
        if self.ended_at_ms is not None:
            return self.ended_at_ms
        return self.start_ms + self.duration_ms

    def played_ms(self, now_ms: int) -> int:
        """How much of it has been heard by ``now_ms``."""
        if self.ended:
            return self.duration_ms
        if self.reported_position_ms is not None:
            heard = self.reported_position_ms
        else:
            heard = now_ms - self.start_ms
        sent_ms = min(self.duration_ms, self.frames_sent * FRAME_MS)
        return max(0, min(heard, sent_ms, self.duration_ms))


def heard_of(utterances: Iterable[ScheduledUtterance], now_ms: int, *, complete: bool) -> Heard:
    """What the listener heard of ``utterances`` (in order) by ``now_ms``.

    A complete reply was heard whole. An interrupted one keeps the utterances played to the end
    and the share of words of the one cut off (a word counts once most of its share played).
    """
    ordered = sorted(utterances, key=lambda u: u.utterance_id)
    if complete:
        if not ordered:
            return Heard("", 0, None)
        first = ordered[0].start_ms
        text = " ".join(u.text for u in ordered)
        return Heard(text, max(0, ordered[-1].end_ms - first), first)
    parts: list[str] = []
    start: int | None = None
    end: int | None = None
    for utterance in ordered:
        heard = utterance.played_ms(now_ms)
        if heard <= 0:
            break
        if start is None:
            start = utterance.start_ms
        end = utterance.start_ms + heard
        if heard >= utterance.duration_ms:
            parts.append(utterance.text)
            continue
        words = utterance.text.split()
        keep = round(len(words) * heard / max(1, utterance.duration_ms))
        if keep:
            parts.append(" ".join(words[:keep]))
        break
    duration = 0 if start is None or end is None else max(0, end - start)
    return Heard(" ".join(parts), duration, start)


class UtteranceIds:
    """Utterance ids of one connection: every output of it draws from the same sequence."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def next(self) -> int:
        return next(self._next)


class SpeechOutput(abc.ABC):
    """Speaks a reply somewhere and keeps it on the conversation's audio timeline."""

    name: str

    @abc.abstractmethod
    def start(self, turn_id: int, figures: ReplyFigures | None = None) -> ReplyFigures:
        """Begin the reply of ``turn_id``; ``figures`` (kept by the caller) fill in as it is
        spoken."""

    @abc.abstractmethod
    async def push_text(self, sentence: str, *, utterance_id: int | None = None) -> None:
        """Queue a sentence. ``utterance_id``: one already announced to the client."""

    @abc.abstractmethod
    async def flush(self) -> Heard:
        """No more sentences: return once the listener has heard them all."""

    @abc.abstractmethod
    async def interrupt(self) -> Heard:
        """Stop now (nothing more of this reply reaches the listener); what was heard."""

    @property
    @abc.abstractmethod
    def delivered(self) -> Sequence[ScheduledUtterance]:
        """The utterances of the current turn delivered so far."""

    def playback(self, utterance_id: int, position_ms: int, *, ended: bool) -> None:  # noqa: B027
        """The listener's report of how far it played an utterance (audio outputs follow it)."""

    async def aclose(self) -> None:  # noqa: B027 - outputs without tasks of their own hold nothing
        """Release what the output holds; idempotent."""


class Piece(Protocol):
    """Something ready to deliver: its text, and how long preparing it took."""

    @property
    def text(self) -> str: ...

    @property
    def synthesis_s(self) -> float: ...


PieceT = TypeVar("PieceT", bound=Piece)
_END = object()


@dataclass
class _Reply:
    """One reply going through an output's pipeline."""

    turn_id: int
    figures: ReplyFigures
    sentences: asyncio.Queue[tuple[int, str] | object] = field(default_factory=asyncio.Queue)
    # Up to two prepared pieces wait while one is delivered: sentence n+1 is ready when n ends.
    pieces: asyncio.Queue[object] = field(default_factory=lambda: asyncio.Queue(maxsize=2))
    pushed: list[str] = field(default_factory=list)
    words_delivered: dict[int, int] = field(default_factory=dict)
    reuse_ids: dict[int, int] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopped: bool = False

    def undelivered(self) -> list[str]:
        """The text pushed but not delivered yet, sentence by sentence."""
        rest = []
        for index, sentence in enumerate(self.pushed):
            words = sentence.split()[self.words_delivered.get(index, 0) :]
            if words:
                rest.append(" ".join(words))
        return rest


class _HandedOver(Exception):
    """The delivery stopped here: the rest of the reply was handed to another output."""


class PipelinedOutput(SpeechOutput, Generic[PieceT]):
    """Prepares sentence n+1 while sentence n is delivered; one reply at a time."""

    def __init__(self, *, clock: ConversationClock, ids: UtteranceIds) -> None:
        self.clock = clock
        self.ids = ids
        self._reply: _Reply | None = None
        self._turn_delivered: list[ScheduledUtterance] = []
        self._open = asyncio.Event()
        self._open.set()

    # --- what each output does -------------------------------------------------------------

    @abc.abstractmethod
    def _prepare(self, sentence: str, *, whole: bool) -> AsyncIterator[PieceT]:
        """Turn a sentence into deliverable pieces (may synthesize; runs one sentence ahead).

        ``whole``: the sentence is already announced as one utterance; keep it one piece.
        """

    @abc.abstractmethod
    def _schedule(
        self, piece: PieceT, *, utterance_id: int, turn_id: int, announce: bool
    ) -> ScheduledUtterance:
        """Place a piece on the timeline (and announce it unless the client knows it)."""

    @abc.abstractmethod
    async def _send(self, piece: PieceT, scheduled: ScheduledUtterance) -> None:
        """Send a scheduled piece; return once all of it is on its way."""

    @abc.abstractmethod
    async def _wait_played(self, scheduled: ScheduledUtterance) -> None:
        """Until the listener has heard ``scheduled``."""

    @abc.abstractmethod
    def _silence(self) -> None:
        """Interrupted: whatever was sent beyond now must not be heard."""

    # --- the interface ---------------------------------------------------------------------

    @property
    def delivered(self) -> Sequence[ScheduledUtterance]:
        return self._turn_delivered

    @property
    def active(self) -> bool:
        """Whether a reply is going through this output now."""
        return self._reply is not None and not self._reply.stopped

    def start(self, turn_id: int, figures: ReplyFigures | None = None) -> ReplyFigures:
        previous = self._reply
        if previous is None or previous.turn_id != turn_id:
            self._turn_delivered = []
        reply = _Reply(turn_id=turn_id, figures=figures or ReplyFigures(turn_id))
        self._reply = reply
        reply.tasks = [
            asyncio.create_task(self._prepare_loop(reply), name=f"prepare-{self.name}"),
            asyncio.create_task(self._deliver_loop(reply), name=f"deliver-{self.name}"),
        ]
        return reply.figures

    async def push_text(self, sentence: str, *, utterance_id: int | None = None) -> None:
        reply = self._require()
        index = len(reply.pushed)
        reply.pushed.append(sentence)
        if utterance_id is not None:
            reply.reuse_ids[index] = utterance_id
        reply.sentences.put_nowait((index, sentence))

    async def flush(self) -> Heard:
        reply = self._require()
        if not reply.stopped:
            reply.sentences.put_nowait(_END)
            delivery = reply.tasks[1]
            # Cancelled here, the reply stays as it is: ``interrupt`` cuts it and silences it.
            await asyncio.wait({delivery})
            await self._stop(reply)
            if not delivery.cancelled() and delivery.exception() is not None:
                raise delivery.exception()  # type: ignore[misc]
        if self._turn_delivered:
            await self._wait_played(self._turn_delivered[-1])
        return heard_of(self._turn_delivered, self.clock.ms(), complete=True)

    async def interrupt(self) -> Heard:
        reply = self._reply
        if reply is not None and not reply.stopped:
            await self._stop(reply)
            self._silence()
        return heard_of(self._turn_delivered, self.clock.ms(), complete=False)

    async def take_back(self) -> list[str]:
        """Stop the reply where it is; the text not delivered yet, for another output."""
        reply = self._reply
        if reply is None or reply.stopped:
            return []
        await self._stop(reply)
        return reply.undelivered()

    def hold(self) -> None:
        """Prepare sentences but deliver nothing until ``release`` (or ``take_back``)."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def aclose(self) -> None:
        reply = self._reply
        if reply is not None:
            await self._stop(reply)

    # --- the pipeline ----------------------------------------------------------------------

    def _require(self) -> _Reply:
        if self._reply is None:
            raise RuntimeError(f"the {self.name} output has no reply started")
        return self._reply

    async def _stop(self, reply: _Reply) -> None:
        reply.stopped = True
        current = asyncio.current_task()
        others = [task for task in reply.tasks if task is not current and not task.done()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others)
        for task in reply.tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved here; ``flush`` raises it to the turn

    async def _prepare_loop(self, reply: _Reply) -> None:
        try:
            while True:
                item = await reply.sentences.get()
                if item is _END:
                    break
                assert isinstance(item, tuple)
                index, sentence = item
                try:
                    whole = index in reply.reuse_ids
                    async for piece in self._prepare(sentence, whole=whole):
                        await reply.pieces.put((index, piece))
                except UnspeakableTextError as unsaid:
                    reply.words_delivered[index] = len(sentence.split())
                    if isinstance(unsaid, SpeechSkipped) and unsaid.reason != "nothing_to_say":
                        reply.figures.skipped.append((str(unsaid.reason), sentence))
        except Exception as exc:  # handed to the deliverer, which raises it to the turn
            await reply.pieces.put(exc)
            return
        await reply.pieces.put(_END)

    async def _deliver_loop(self, reply: _Reply) -> None:
        while True:
            item = await reply.pieces.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            index, piece = cast(tuple[int, PieceT], item)
            await self._open.wait()
            figures = reply.figures
            if figures.first_audio_ms is None:
                figures.first_audio_ms = self.clock.ms()
                if figures.on_first_audio is not None:
                    await figures.on_first_audio()  # a prepared turn waits here to be confirmed
                    figures.first_audio_ms = self.clock.ms()
            reused = reply.reuse_ids.pop(index, None)
            scheduled = self._schedule(
                piece,
                utterance_id=reused if reused is not None else self.ids.next(),
                turn_id=reply.turn_id,
                announce=reused is None,
            )
            figures.sentences += 1
            figures.audio_ms += scheduled.duration_ms
            figures.synthesis_s += piece.synthesis_s
            self._turn_delivered.append(scheduled)
            try:
                await self._send(piece, scheduled)
            except _HandedOver:
                return
            reply.words_delivered[index] = reply.words_delivered.get(index, 0) + len(
                piece.text.split()
            )

    async def _hand_over(self, scheduled: ScheduledUtterance) -> list[str]:
        """From inside delivery: stop here and return the undelivered text; then raise
        ``_HandedOver`` to end the delivery. ``scheduled`` (announced, not heard) is dropped.
        """
        reply = self._require()
        if scheduled in self._turn_delivered:
            self._turn_delivered.remove(scheduled)
        await self._stop(reply)
        return reply.undelivered()
