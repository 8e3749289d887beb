"""What in-process engines share: load once off the event loop, decode on worker threads under
the shared deadline scheduler, and stream with buffered partials."""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import SAMPLE_RATE, Pcm16, Segment, STTEngine, STTStream, Transcript
from visavis.speech.stt.errors import STTModelError, UnsupportedLanguageError
from visavis.speech.stt.streaming import BufferedSTTStream

T = TypeVar("T")

Audio = npt.NDArray[np.float32]

WAITED_ON_S = 1.0  # a final due sooner than this is awaited now (a turn), later is a file


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
        self._loaded = False
        self._closed = False

    @abc.abstractmethod
    def _load(self) -> None:
        """Load the model (blocking; called once, on a worker thread)."""

    @abc.abstractmethod
    def _decode(self, audio: Audio, *, final: bool) -> list[Segment]:
        """Decode float samples in [-1, 1) at 16 kHz (blocking; on a worker thread)."""

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

    def stream(self, *, language: str | None = None) -> STTStream:
        code = self.check_language(language)

        async def decode(pcm: Pcm16, final: bool, deadline: float) -> Transcript:
            return await self._transcribe(pcm, language=code, final=final, deadline=deadline)

        return BufferedSTTStream(decode, partial_interval_s=self.partial_interval_s)

    async def transcribe(
        self, pcm: Pcm16, *, language: str | None = None, deadline: float | None = None
    ) -> Transcript:
        code = self.check_language(language)
        when = asyncio.get_running_loop().time() if deadline is None else deadline
        return await self._transcribe(pcm, language=code, final=True, deadline=when)

    async def _transcribe(
        self, pcm: Pcm16, *, language: str, final: bool, deadline: float
    ) -> Transcript:
        await self.load()
        audio = np.asarray(pcm, dtype=np.float32) / 32768.0
        duration = len(audio) / SAMPLE_RATE
        # A decode nobody waits on now (a partial; a file, due later) leaves a slot free for
        # the finals and first sentences that come while it runs: it cannot be stopped.
        waited_on = final and deadline - asyncio.get_running_loop().time() < WAITED_ON_S
        async with self.scheduler.slot(deadline, spare=0 if waited_on else 1):
            started = time.perf_counter()
            segments = await run_to_completion(lambda: self._decode(audio, final=final))
            elapsed = time.perf_counter() - started
        self._observe(duration, elapsed)
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
