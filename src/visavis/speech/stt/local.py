"""What in-process engines share: load once off the event loop, decode on worker threads under
the shared deadline scheduler, and stream with buffered partials."""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import SAMPLE_RATE, Pcm16, Segment, STTEngine, STTStream, Transcript
from visavis.speech.stt.errors import STTModelError, UnsupportedLanguageError
from visavis.speech.stt.streaming import BufferedSTTStream

T = TypeVar("T")

Audio = npt.NDArray[np.float32]

WAITED_ON_S = 1.0  # a final due sooner than this is awaited now (a turn), later is a file
MAX_BATCH = 4  # decodes joined into one pass (bench/stt_batch.py: 4 cost less than 8)


class LocalSTTEngine(STTEngine):
    """An engine decoding in this process. Subclasses implement ``_load`` and ``_decode``."""

    languages: tuple[str, ...] = ("en",)

    def __init__(
        self,
        *,
        scheduler: DeadlineScheduler,
        partial_interval_s: float | None = 0.5,
    ) -> None:
        self.scheduler = scheduler
        self.partial_interval_s = partial_interval_s
        self._load_lock = asyncio.Lock()
        self._batches = _Batches(self)
        #: Decode passes run so far; decodes that waited together share one (``_Batches``).
        self.passes = 0
        self._loaded = False
        self._closed = False

    @abc.abstractmethod
    def _load(self) -> None:
        """Load the model (blocking; called once, on a worker thread)."""

    @abc.abstractmethod
    def _decode(self, audio: Audio, *, final: bool, prompt: str | None = None) -> list[Segment]:
        """Decode float samples in [-1, 1) at 16 kHz (blocking; on a worker thread)."""

    def batch_key(self, samples: int) -> Hashable | None:
        """Utterances of the same key may be decoded in one batch (None: alone). An engine
        that batches gives each utterance the same result in a batch as alone."""
        return None

    def _decode_batch(
        self, audios: Sequence[Audio], *, final: bool, prompt: str | None = None
    ) -> list[list[Segment]]:
        """Decode several utterances (blocking); engines that batch decode them in one pass."""
        return [self._decode(audio, final=final, prompt=prompt) for audio in audios]

    @property
    def loaded(self) -> bool:
        return self._loaded

    async def load(self) -> None:
        """Load the model now, off the event loop, unless it is loaded already."""
        async with self._load_lock:
            if self._closed:
                raise STTModelError(f"the {self.name} engine is closed")
            if not self._loaded:
                await asyncio.to_thread(self._load)
                self._loaded = True

    def check_language(self, language: str | None) -> str:
        """The language to decode; refuses one the model does not know."""
        code = (language or self.languages[0]).strip().lower()
        if code not in self.languages:
            raise UnsupportedLanguageError(
                f"the {self.name} model transcribes {', '.join(self.languages)} only, "
                f"not {language!r}"
            )
        return code

    def stream(self, *, language: str | None = None, prompt: str | None = None) -> STTStream:
        code = self.check_language(language)

        async def decode(pcm: Pcm16, final: bool, deadline: float) -> Transcript:
            return await self._transcribe(
                pcm, language=code, final=final, deadline=deadline, prompt=prompt
            )

        return BufferedSTTStream(decode, partial_interval_s=self.partial_interval_s)

    async def transcribe(
        self,
        pcm: Pcm16,
        *,
        language: str | None = None,
        deadline: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        code = self.check_language(language)
        when = asyncio.get_running_loop().time() if deadline is None else deadline
        return await self._transcribe(pcm, language=code, final=True, deadline=when, prompt=prompt)

    async def _transcribe(
        self,
        pcm: Pcm16,
        *,
        language: str,
        final: bool,
        deadline: float,
        prompt: str | None = None,
    ) -> Transcript:
        await self.load()
        audio = np.asarray(pcm, dtype=np.float32) / 32768.0
        duration = len(audio) / SAMPLE_RATE
        # A decode nobody waits on now (a partial; a file, due later) leaves a slot free for
        # the finals and first sentences that come while it runs: it cannot be stopped.
        waited_on = final and deadline - asyncio.get_running_loop().time() < WAITED_ON_S
        # Only the decodes a turn waits for batch: a partial's batch would hold a slot longer
        # than one partial, in the way of the first words of a reply.
        key = self.batch_key(len(audio)) if waited_on else None
        request = _Decode(audio, final, waited_on, deadline, key, prompt or None)
        segments, elapsed, share = await self._batches.decode(request, spare=0 if waited_on else 1)
        self._observe(duration, elapsed * share)
        transcript = Transcript.of_segments(
            segments, duration=duration, final=final, language=language
        )
        return dataclasses.replace(transcript, decode_s=elapsed)

    async def aclose(self) -> None:
        async with self._load_lock:
            if self._closed:
                return
            self._closed = True
            await asyncio.to_thread(self._release)  # may wait for a running decode

    def _release(self) -> None:  # noqa: B027 - engines without native resources keep the default
        """Drop the model (blocking, once, after ``aclose``); running decodes finish first."""


@dataclasses.dataclass(eq=False)
class _Decode:
    """One utterance waiting to be decoded."""

    audio: Audio
    final: bool
    waited_on: bool
    deadline: float
    key: Hashable | None  # the engine's batch key; None: decoded alone
    prompt: str | None
    result: asyncio.Future[tuple[list[Segment], float, float]] = dataclasses.field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    runner: asyncio.Task[None] | None = None

    @property
    def kind(self) -> tuple[bool, bool, Hashable | None, str | None]:
        return self.final, self.waited_on, self.key, self.prompt


class _Batches:
    """Decodes waiting for a slot, joined into batches: the decode of a turn that gets a slot
    takes the other waiting decodes of turns with its batch key along, most urgent first, up
    to ``MAX_BATCH``. Turns ending together are then decoded in a few passes, not one each; a
    lone decode runs as before."""

    def __init__(self, engine: LocalSTTEngine) -> None:
        self.engine = engine
        self.waiting: list[_Decode] = []

    async def decode(self, request: _Decode, *, spare: int) -> tuple[list[Segment], float, float]:
        """``(segments, wall seconds of its batch, its share of the batch's audio)``."""
        self.waiting.append(request)
        request.runner = asyncio.ensure_future(self._run(request, spare))
        request.runner.add_done_callback(functools.partial(_runner_failed, request))
        try:
            return await asyncio.shield(request.result)
        except asyncio.CancelledError:
            if request in self.waiting:  # not started: nobody decodes it now
                self.waiting.remove(request)
                request.runner.cancel()
            # Started in a batch: it finishes for the others; its outcome is nobody's.
            request.result.add_done_callback(_consume)
            raise

    async def _run(self, request: _Decode, spare: int) -> None:
        async with self.engine.scheduler.slot(request.deadline, spare=spare):
            if request not in self.waiting:
                return  # decoded in another's batch meanwhile
            batch = self._take(request)
            audios = [item.audio for item in batch]
            self.engine.passes += 1
            started = time.perf_counter()
            try:
                decoded = await run_to_completion(
                    lambda: self.engine._decode_batch(
                        audios, final=request.final, prompt=request.prompt
                    )
                )
            except asyncio.CancelledError:
                for item in batch:
                    item.result.cancel()
                raise
            except Exception as exc:  # each caller gets the engine's error as its own
                for item in batch:
                    if not item.result.done():
                        item.result.set_exception(exc)
                return
            elapsed = time.perf_counter() - started
            total = sum(len(audio) for audio in audios) or 1
            for item, segments in zip(batch, decoded, strict=True):
                if not item.result.done():
                    item.result.set_result((segments, elapsed, len(item.audio) / total))

    def _take(self, request: _Decode) -> list[_Decode]:
        """``request`` and, if it may share, the most urgent waiting decodes of its kind."""
        self.waiting.remove(request)
        if request.key is None:
            return [request]
        joining = sorted(
            (w for w in self.waiting if w.kind == request.kind),
            key=lambda w: w.deadline,
        )[: MAX_BATCH - 1]
        for item in joining:
            self.waiting.remove(item)
            if item.runner is not None:
                item.runner.cancel()  # it waits for a slot it no longer needs
        return [request, *joining]


def _runner_failed(request: _Decode, runner: asyncio.Task[None]) -> None:
    """A runner that failed outside a decode (not one cancelled because another's batch took
    its request) passes its error on, so its caller does not wait forever."""
    if runner.cancelled() or request.result.done():
        return
    error = runner.exception()
    if error is not None:
        request.result.set_exception(error)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a caller that left does not log a lost error


async def run_to_completion(work: Callable[[], T]) -> T:
    """Run blocking ``work`` on a worker thread; if cancelled, still wait for the thread to end.

    A thread cannot be stopped: returning early would free the caller's decode slot while the
    CPU is still busy, and the bound on concurrent decodes would be a fiction.
    """
    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                continue
            except Exception:  # noqa: S112 - the caller was cancelled; its error is moot
                break
        raise


def verify_model_files(folder: Path, expected: Mapping[str, str], *, package: str) -> None:
    """Check that ``folder`` holds exactly the model files (sha256) this release pins."""
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise STTModelError(f"{package}: the model file {path} is missing; reinstall it")
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                sha.update(block)
        if sha.hexdigest() != digest:
            raise STTModelError(
                f"{package}: {name} is not the pinned model (sha256 {sha.hexdigest()[:12]}…, "
                f"expected {digest[:12]}…); install the version pinned in pyproject.toml"
            )
