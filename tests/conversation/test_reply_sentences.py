"""Sentences of a streamed reply: deltas, sentences, pauses, the end, and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from visavis.conversation.segmenter import (
    DeltaReceived,
    ReplyEvent,
    SentenceReady,
    SentenceSegmenter,
    TurnComplete,
    reply_sentences,
)
from visavis.testing.clock import ManualClock


async def collect(events: AsyncGenerator[ReplyEvent, None]) -> list[ReplyEvent]:
    return [event async for event in events]


async def deltas_from(parts: list[str]) -> AsyncGenerator[str, None]:
    for part in parts:
        yield part


async def test_reply_gives_deltas_sentences_then_completion() -> None:
    parts = ["Hello there", ", friend. How ", "are you", " today?"]
    events = await collect(reply_sentences(deltas_from(parts), SentenceSegmenter()))
    assert [e.text for e in events if isinstance(e, DeltaReceived)] == parts
    assert [e for e in events if isinstance(e, SentenceReady)] == [
        SentenceReady("Hello there, friend.", "boundary"),
        SentenceReady("How are you today?", "end"),
    ]
    assert events[-1] == TurnComplete()


async def test_a_pause_releases_the_pending_fragment() -> None:
    clock = ManualClock()

    async def hesitant() -> AsyncGenerator[str, None]:
        yield "Let me check that for"
        await clock.sleep(2.0)
        yield " you. Done now."

    events: list[ReplyEvent] = []

    async def consume() -> None:
        async for event in reply_sentences(
            hesitant(), SentenceSegmenter(), pause_s=0.5, clock=clock
        ):
            events.append(event)

    task = asyncio.create_task(consume())
    await clock.advance(0.4)
    assert [e for e in events if isinstance(e, SentenceReady)] == []
    await clock.advance(0.2)
    assert events[-1] == SentenceReady("Let me check that for", "pause")
    await clock.advance(2.0)  # the stream goes on after the pause
    await asyncio.wait_for(task, 1)
    sentences = [e for e in events if isinstance(e, SentenceReady)]
    # "you." alone is too short to be spoken by itself: it goes with the next sentence.
    assert sentences[1:] == [SentenceReady("you. Done now.", "end")]
    assert events[-1] == TurnComplete()


async def test_agent_errors_propagate_and_keep_the_pending_text() -> None:
    async def failing() -> AsyncGenerator[str, None]:
        yield "Half a sen"
        raise RuntimeError("agent broke")

    segmenter = SentenceSegmenter()
    with pytest.raises(RuntimeError, match="agent broke"):
        await collect(reply_sentences(failing(), segmenter))
    assert segmenter.pending == "Half a sen"


async def test_closing_the_watcher_stops_the_agent_stream() -> None:
    clock = ManualClock()
    stopped = asyncio.Event()

    async def endless() -> AsyncGenerator[str, None]:
        try:
            yield "Some words"
            await clock.sleep(3600)
            yield "never"
        finally:
            stopped.set()

    watcher = reply_sentences(endless(), SentenceSegmenter(), pause_s=0.5, clock=clock)
    assert await anext(watcher) == DeltaReceived("Some words")
    pending_read = asyncio.create_task(anext(watcher))
    await asyncio.sleep(0)
    await clock.advance(0.6)  # the pause releases "Some words"
    assert await pending_read == SentenceReady("Some words", "pause")
    await watcher.aclose()  # a read of the agent is in flight: it is cancelled
    assert stopped.is_set()


async def test_cancelling_the_consumer_stops_the_agent_stream() -> None:
    stopped = asyncio.Event()

    async def slow() -> AsyncGenerator[str, None]:
        try:
            while True:
                yield "word "
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    async def consume() -> None:
        async for _ in reply_sentences(slow(), SentenceSegmenter()):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set()
