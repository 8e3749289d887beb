"""A remote voice with a local one behind it: no sentence is lost when the remote one fails.

Each sentence goes to the primary (a cloned voice at a remote service). If its first audio
has not come within ``first_audio_s``, or the service fails, the sentence is spoken by the
fallback (the bundled voice) instead; if it fails midway, the fallback says the words the
primary had not yet said. After a failure the primary is left alone for ``retry_after_s``
(every sentence would otherwise wait a second for it), then tried again. Each switch is
reported through ``on_switch``, so the conversation can say which voice speaks and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from visavis.speech.tts.base import AudioChunk, TTSEngine, check_options, split_sentences

logger = logging.getLogger(__name__)

SwitchReason = Literal["voice_slow", "voice_unavailable", "voice_restored"]


@dataclass(frozen=True, slots=True)
class VoiceSwitch:
    """Which voice speaks from now on (``primary`` or ``fallback``), why, and a message."""

    speaking: Literal["primary", "fallback"]
    reason: SwitchReason
    message: str


class _Options(NamedTuple):
    sample_rate: int | None
    rate: float
    pitch: float


class FallbackVoice(TTSEngine):
    """``primary`` while it answers in time, ``fallback`` for whatever it does not say."""

    def __init__(
        self,
        primary: TTSEngine,
        fallback: TTSEngine,
        *,
        first_audio_s: float = 1.0,
        stall_s: float = 5.0,
        retry_after_s: float = 30.0,
        on_switch: Callable[[VoiceSwitch], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.native_sample_rate = primary.native_sample_rate
        self.first_audio_s = first_audio_s
        self.stall_s = stall_s
        self.retry_after_s = retry_after_s
        self.on_switch = on_switch
        self._clock = clock
        self._failed_at: float | None = None

    @property
    def on_fallback(self) -> bool:
        """Whether the last sentence was handed to the fallback."""
        return self._failed_at is not None

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        check_options(text, sample_rate, rate, pitch)
        options = _Options(sample_rate, rate, pitch)
        for sentence in split_sentences(text):
            said: list[str] = []
            if self._primary_allowed():
                async for chunk in self._primary(sentence, said, options, first_chunk_s):
                    yield chunk
                if self._failed_at is None:
                    continue
            rest = " ".join(sentence.split()[len(said) :])
            if rest:
                async for chunk in self.fallback.synthesize(
                    rest,
                    sample_rate=options.sample_rate,
                    rate=options.rate,
                    pitch=options.pitch,
                    first_chunk_s=first_chunk_s,
                ):
                    yield chunk

    def _primary_allowed(self) -> bool:
        if self._failed_at is None:
            return True
        return self._clock() - self._failed_at >= self.retry_after_s

    async def _primary(
        self,
        sentence: str,
        said: list[str],
        options: _Options,
        first_chunk_s: float | None,
    ) -> AsyncIterator[AudioChunk]:
        """The primary's chunks; on failure, ``_failed_at`` is set and ``said`` holds the
        words it did say (every chunk's text is the next words of the sentence)."""
        stream = self.primary.synthesize(
            sentence,
            sample_rate=options.sample_rate,
            rate=options.rate,
            pitch=options.pitch,
            first_chunk_s=first_chunk_s,
        )
        timeout = self.first_audio_s
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(stream), timeout)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    waited = "first audio" if not said else "more audio"
                    self._fail(
                        "voice_slow",
                        f"the cloned voice gave no {waited} within {timeout:g} s",
                    )
                    return
                except Exception as exc:  # noqa: BLE001 - any failure of a remote voice
                    logger.warning("cloned voice failed: %s", exc)
                    self._fail("voice_unavailable", f"the cloned voice failed: {exc}")
                    return
                said.extend(chunk.text.split())
                timeout = self.stall_s
                yield chunk
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        if self._failed_at is not None:
            self._failed_at = None
            self._switch(VoiceSwitch("primary", "voice_restored", "the cloned voice is back"))

    def _fail(self, reason: SwitchReason, message: str) -> None:
        first = self._failed_at is None
        self._failed_at = self._clock()
        if first:
            self._switch(
                VoiceSwitch("fallback", reason, message + "; the bundled voice speaks instead")
            )

    def _switch(self, switch: VoiceSwitch) -> None:
        if self.on_switch is not None:
            self.on_switch(switch)

    async def aclose(self) -> None:
        """The engines are shared: closing them is their owner's job."""
