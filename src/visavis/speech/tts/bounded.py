"""A voice with bounds: per sentence and per reply (characters and seconds of audio), text it
cannot speak skipped or handed to a fallback voice, never minutes of letter names.

:class:`BoundedVoice` wraps the instance's engine. Each ``synthesize`` call is one reply for
its bounds; a live pipeline that speaks a reply sentence by sentence keeps one
:class:`ReplyBudget` per reply (``admit`` before a sentence, ``spend`` after its audio).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from visavis.errors import VisavisError
from visavis.speech.speakable import (
    FALLBACK_VOICES,
    SkipReason,
    Speakable,
    SpeechSkipped,
    assess,
    speaks_well,
)
from visavis.speech.tts.base import AudioChunk, TTSEngine, check_options, split_sentences

SkipHandler = Callable[[SpeechSkipped], None]
FallbackHandler = Callable[[Speakable], None]
FallbackFactory = Callable[[str], TTSEngine]


@dataclass(frozen=True, slots=True)
class SpeechBounds:
    """Limits of what one sentence and one reply may become."""

    max_sentence_chars: int = 400
    max_sentence_s: float = 40.0
    max_reply_chars: int = 4000
    max_reply_s: float = 240.0

    def __post_init__(self) -> None:
        if min(self.max_sentence_chars, self.max_reply_chars) < 1:
            raise ValueError("character bounds must be at least 1")
        if min(self.max_sentence_s, self.max_reply_s) <= 0:
            raise ValueError("seconds bounds must be positive")


class ReplyBudget:
    """What is left of one reply's characters and seconds of audio."""

    def __init__(self, bounds: SpeechBounds) -> None:
        self.bounds = bounds
        self.chars = 0
        self.seconds = 0.0

    @property
    def seconds_left(self) -> float:
        return max(0.0, self.bounds.max_reply_s - self.seconds)

    def admit(self, sentence: str) -> None:
        """Count ``sentence``, or raise ``SpeechSkipped`` (reply_too_long) when it is over."""
        if self.seconds >= self.bounds.max_reply_s:
            raise SpeechSkipped(
                SkipReason.REPLY_TOO_LONG,
                f"the reply already has {self.bounds.max_reply_s:.0f} s of audio",
                text=sentence,
            )
        if self.chars + len(sentence) > self.bounds.max_reply_chars:
            raise SpeechSkipped(
                SkipReason.REPLY_TOO_LONG,
                f"the reply is longer than {self.bounds.max_reply_chars} characters",
                text=sentence,
            )
        self.chars += len(sentence)

    def spend(self, seconds: float) -> None:
        """Count audio made for the reply."""
        self.seconds += seconds


def clip(chunk: AudioChunk, seconds: float) -> AudioChunk:
    """The first ``seconds`` of ``chunk`` (phones clipped too)."""
    samples = max(0, int(seconds * chunk.sample_rate))
    if samples >= len(chunk.pcm):
        return chunk
    phones = None
    if chunk.phones is not None:
        phones = tuple(
            p._replace(end=min(p.end, seconds)) for p in chunk.phones if p.start < seconds
        )
    return AudioChunk(chunk.pcm[:samples], chunk.sample_rate, chunk.text, phones)


class BoundedVoice(TTSEngine):
    """``engine`` under :class:`SpeechBounds`, with fallback voices for other scripts.

    ``voice``: the engine's language as an eSpeak voice name (``en-us``) — what decides which
    scripts it speaks. ``fallback``: makes an engine for an eSpeak NG voice name (None: no
    fallback; sentences in other scripts are skipped).
    """

    def __init__(
        self,
        engine: TTSEngine,
        *,
        voice: str,
        bounds: SpeechBounds | None = None,
        fallback: FallbackFactory | None = None,
    ) -> None:
        self.engine = engine
        self.voice = voice
        self.bounds = bounds or SpeechBounds()
        self.name = engine.name
        self.native_sample_rate = engine.native_sample_rate
        self._fallback_factory = fallback
        self._fallbacks: dict[str, TTSEngine] = {}

    def load(self) -> None:
        """Load the voice now, for engines that otherwise load at their first synthesis."""
        load = getattr(self.engine, "load", None)
        if load is not None:
            load()
            self.native_sample_rate = self.engine.native_sample_rate

    def assess(self, sentence: str) -> Speakable:
        """What this voice (or a fallback) will say of ``sentence``; ``SpeechSkipped`` if none."""
        choices = None
        if self._fallback_factory is not None:
            choices = {script: voices[0] for script, voices in FALLBACK_VOICES.items()}
        return assess(sentence, voice=self.voice, fallbacks=choices)

    async def synthesize(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
    ) -> AsyncIterator[AudioChunk]:
        """The engine's chunks for what can be said of ``text``, within the bounds.

        Sentences that cannot be said are left out; when nothing at all is said, raises
        ``SpeechSkipped`` with the (first) reason.
        """
        async for chunk in self.synthesize_reply(
            text, sample_rate=sample_rate, rate=rate, pitch=pitch, first_chunk_s=first_chunk_s
        ):
            yield chunk

    async def synthesize_reply(
        self,
        text: str,
        *,
        sample_rate: int | None = None,
        rate: float = 1.0,
        pitch: float = 1.0,
        first_chunk_s: float | None = None,
        budget: ReplyBudget | None = None,
        on_skip: SkipHandler | None = None,
        on_fallback: FallbackHandler | None = None,
    ) -> AsyncIterator[AudioChunk]:
        """As ``synthesize``; ``budget`` carries a reply's bounds across calls, ``on_skip``
        hears of every sentence (or part) left out, ``on_fallback`` of every sentence
        given to a fallback voice, as it happens."""
        check_options(text, sample_rate, rate, pitch)
        budget = budget or ReplyBudget(self.bounds)
        # Read now: a Piper engine learns its native rate when the voice loads.
        out_rate = sample_rate or self.engine.native_sample_rate
        first_skip: SpeechSkipped | None = None
        spoken = False
        for sentence in split_sentences(text, max_chars=self.bounds.max_sentence_chars):
            try:
                said = await self._speakable(sentence)
                budget.admit(said.text)
            except SpeechSkipped as skipped:
                first_skip = first_skip or skipped
                if on_skip is not None:
                    on_skip(skipped)
                if skipped.reason is SkipReason.REPLY_TOO_LONG:
                    break
                continue
            engine = self.engine if said.voice is None else self._fallback(said.voice)
            if said.voice is not None and on_fallback is not None:
                on_fallback(said)
            sentence_s = 0.0
            limit = min(self.bounds.max_sentence_s, budget.seconds_left)
            stream = engine.synthesize(
                said.text,
                sample_rate=out_rate,
                rate=rate,
                pitch=pitch,
                first_chunk_s=first_chunk_s if not spoken else None,
            )
            try:
                async for chunk in stream:
                    if sentence_s + chunk.duration > limit:
                        chunk = clip(chunk, limit - sentence_s)
                        cut = True
                    else:
                        cut = False
                    sentence_s += chunk.duration
                    budget.spend(chunk.duration)
                    if len(chunk.pcm):
                        spoken = True
                        yield chunk
                    if cut:
                        reason = (
                            SkipReason.REPLY_TOO_LONG
                            if budget.seconds_left <= 0
                            else SkipReason.SENTENCE_TOO_LONG
                        )
                        notice = SpeechSkipped(
                            reason, f"audio cut at {limit:.0f} s", text=said.text
                        )
                        first_skip = first_skip or notice
                        if on_skip is not None:
                            on_skip(notice)
                        break
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:  # stop the engine's work for this sentence now
                    await close()
            if budget.seconds_left <= 0:
                break
        if not spoken:
            raise first_skip or SpeechSkipped(SkipReason.NOTHING_TO_SAY, "nothing to say")

    def ready(
        self, text: str, *, sample_rate: int | None = None, rate: float = 1.0, pitch: float = 1.0
    ) -> tuple[AudioChunk, ...] | None:
        """A kept synthesis of ``text`` when it is one sentence the voice itself says whole
        within the bounds, as ``synthesize`` would; None otherwise (``synthesize`` decides)."""
        sentences = list(split_sentences(text, max_chars=self.bounds.max_sentence_chars))
        if len(sentences) != 1:
            return None
        try:
            said = self.assess(sentences[0])
        except SpeechSkipped:
            return None
        if said.voice is not None or len(said.text) > self.bounds.max_reply_chars:
            return None
        chunks = self.engine.ready(
            said.text,
            sample_rate=sample_rate or self.engine.native_sample_rate,
            rate=rate,
            pitch=pitch,
        )
        if chunks is None:
            return None
        limit = min(self.bounds.max_sentence_s, self.bounds.max_reply_s)
        heard = tuple(chunk for chunk in chunks if len(chunk.pcm))
        if not heard or sum(chunk.duration for chunk in heard) > limit:
            return None
        return heard

    async def _speakable(self, sentence: str) -> Speakable:
        said = self.assess(sentence)
        if said.voice is not None and not await self._fallback_speaks(said.voice, said.text):
            raise SpeechSkipped(
                SkipReason.UNSUPPORTED_SCRIPT,
                f"the text is mostly in {said.script.title()} script, which the voice "
                f"{self.voice!r} cannot speak and the fallback voice {said.voice!r} does not "
                "speak well",
                text=sentence,
            )
        return said

    async def _fallback_speaks(self, voice: str, text: str) -> bool:
        from visavis.speech.tts.espeak_binding import espeak_library

        try:
            phonemes = await asyncio.to_thread(
                lambda: espeak_library().phonemize(text, voice=voice)
            )
        except VisavisError:  # no eSpeak NG here, or no such voice: no fallback
            return False
        return speaks_well(phonemes)

    def _fallback(self, voice: str) -> TTSEngine:
        engine = self._fallbacks.get(voice)
        if engine is None:
            assert self._fallback_factory is not None
            engine = self._fallbacks[voice] = self._fallback_factory(voice)
        return engine

    async def aclose(self) -> None:
        """Close the engine and the fallback voices; idempotent."""
        for engine in self._fallbacks.values():
            await engine.aclose()
        await self.engine.aclose()
