"""Speech synthesis shared by every live conversation: a few at a time, most urgent first.

Synthesis is the CPU-bound step of a turn. Run without order, ten conversations speaking at once
slow each other down evenly, and the one whose listener is about to hear silence waits as long
as the one with seconds of audio still queued. Here each job carries a deadline — when its
audio must start playing (now, for the first words of a reply) — and the earliest deadline gets
the next free slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.tts.base import AudioChunk, TTSEngine


class SynthesisScheduler(DeadlineScheduler):
    """At most ``slots`` syntheses at once; waiting jobs served earliest deadline first."""

    def submit(
        self,
        engine: TTSEngine,
        text: str,
        *,
        deadline: float,
        sample_rate: int,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> SynthesisJob:
        """Queue the synthesis of ``text`` now; read its chunks from the returned job.

        ``first_chunk_s``: someone is waiting for this text (see ``TTSEngine.synthesize``).
        """
        return SynthesisJob(self, engine, text, deadline, sample_rate, rate, pitch, first_chunk_s)

    async def synthesize(
        self,
        engine: TTSEngine,
        text: str,
        *,
        deadline: float,
        sample_rate: int,
        rate: float = 1.0,
        pitch: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        """The engine's chunks for ``text``, synthesized when a slot is free."""
        job = self.submit(
            engine, text, deadline=deadline, sample_rate=sample_rate, rate=rate, pitch=pitch
        )
        try:
            async for chunk in job.chunks():
                yield chunk
        finally:
            await job.aclose()


class SynthesisJob:
    """One queued synthesis. The slot is held only while the engine works, not while the
    caller consumes the chunks: a conversation not ready for its next sentence blocks nobody.
    A synthesis the engine already keeps (``TTSEngine.ready``) takes no slot at all.
    """

    def __init__(
        self,
        scheduler: SynthesisScheduler,
        engine: TTSEngine,
        text: str,
        deadline: float,
        sample_rate: int,
        rate: float,
        pitch: float,
        first_chunk_s: float | None = None,
    ) -> None:
        self._queue: asyncio.Queue[AudioChunk | BaseException | None] = asyncio.Queue()

        async def work() -> None:
            try:
                # A kept synthesis costs nothing: it does not wait for a slot behind real work.
                kept = engine.ready(text, sample_rate=sample_rate, rate=rate, pitch=pitch)
                if kept is not None:
                    for chunk in kept:
                        self._queue.put_nowait(chunk)
                    return
                async with scheduler.slot(deadline):
                    async for chunk in engine.synthesize(
                        text,
                        sample_rate=sample_rate,
                        rate=rate,
                        pitch=pitch,
                        first_chunk_s=first_chunk_s,
                    ):
                        self._queue.put_nowait(chunk)
            except Exception as exc:  # handed to the consumer, which raises it
                self._queue.put_nowait(exc)
            finally:
                self._queue.put_nowait(None)

        self._worker = asyncio.create_task(work(), name="synthesis")

    async def chunks(self) -> AsyncIterator[AudioChunk]:
        """The chunks as they come; raises the engine's error."""
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aclose(self) -> None:
        """Cancel the work if it is still queued or running; idempotent."""
        if not self._worker.done():
            self._worker.cancel()
        await asyncio.wait({self._worker})
