"""Live turns decoded by a finer model while the CPU has room for it.

Whisper base costs two to three times tiny.en's CPU. On the voice-turn bench's turns (a
natural-sounding voice) it misheard about half as often; on single sentences of robotic
voices it is not reliably better (docs/speech-input.md). A turn's words are decoded at the pause,
some hundred milliseconds before the turn can end: where the finer model can finish within
``budget_s`` and no other decode holds or waits for a slot, it decodes them; otherwise the
fast one does. So a quiet instance hears better at no cost in latency, and a busy one answers
as fast as before. Partial words always come from the fast model.

The finer model's speed (seconds of decoding per second of audio) is learnt from its own
decodes, so a slower or busier machine gives it shorter turns; each turn it was too slow for
moves the estimate back toward the first guess, so a load that has passed does not keep it out.
"""

from __future__ import annotations

from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.base import SAMPLE_RATE, Pcm16, STTEngine, STTStream, Transcript

#: Whisper base, greedy, one core of a slow machine: about 14 times faster than real time.
SECONDS_PER_AUDIO_S = 0.07
LEARNING_RATE = 0.3  # weight of the newest decode in the speed estimate
RELAX_RATE = 0.1  # per turn the finer model was too slow for: back toward the first guess
MIN_LEARN_AUDIO_S = 0.5  # shorter decodes say more about fixed costs than about speed


class FinerWhenIdle(STTEngine):
    """``fast`` and ``fine`` under one ``scheduler``: finals by ``fine`` when there is room
    (see the module's docstring), everything else by ``fast``. Closing it closes both."""

    def __init__(
        self,
        fast: STTEngine,
        fine: STTEngine,
        *,
        scheduler: DeadlineScheduler,
        budget_s: float,
        seconds_per_audio_s: float = SECONDS_PER_AUDIO_S,
    ) -> None:
        if budget_s <= 0:
            raise ValueError("budget_s must be positive")
        self.fast = fast
        self.fine = fine
        self.name = fast.name
        self.word_times = fast.word_times and fine.word_times
        self.takes_prompt = fast.takes_prompt and fine.takes_prompt
        self.scheduler = scheduler
        self.budget_s = budget_s
        #: The finer model's decode time per second of audio, as last measured.
        self.seconds_per_audio_s = seconds_per_audio_s
        self._prior = seconds_per_audio_s
        #: How many finals each model decoded.
        self.decoded = {"fine": 0, "fast": 0}

    @property
    def loaded(self) -> bool:
        return self.fast.loaded and self.fine.loaded

    async def load(self) -> None:
        await self.fast.load()
        await self.fine.load()

    def check_language(self, language: str | None) -> str | None:
        self.fine.check_language(language)
        return self.fast.check_language(language)

    def stream(self, *, language: str | None = None, prompt: str | None = None) -> STTStream:
        return self.fast.stream(language=language, prompt=prompt)

    async def transcribe(
        self,
        pcm: Pcm16,
        *,
        language: str | None = None,
        deadline: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        audio_s = len(pcm) / SAMPLE_RATE
        if not self.room_for(audio_s):
            if self._free():
                # Too slow, as last measured: a measure taken under a passing load would
                # otherwise keep the finer model out for good. Drift back to try it again.
                self.seconds_per_audio_s += RELAX_RATE * (self._prior - self.seconds_per_audio_s)
            self.decoded["fast"] += 1
            return await self.fast.transcribe(
                pcm, language=language, deadline=deadline, prompt=prompt
            )
        self.decoded["fine"] += 1
        transcript = await self.fine.transcribe(
            pcm, language=language, deadline=deadline, prompt=prompt
        )
        if audio_s >= MIN_LEARN_AUDIO_S:
            measured = transcript.decode_s / audio_s
            self.seconds_per_audio_s += LEARNING_RATE * (measured - self.seconds_per_audio_s)
        return transcript

    def room_for(self, audio_s: float) -> bool:
        """Whether the finer model would decode ``audio_s`` of audio now."""
        return self._free() and self.seconds_per_audio_s * audio_s <= self.budget_s

    def _free(self) -> bool:
        return self.scheduler.busy < self.scheduler.slots and self.scheduler.waiting == 0

    async def aclose(self) -> None:
        await self.fast.aclose()
        await self.fine.aclose()
