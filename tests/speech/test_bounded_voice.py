"""The bounded voice: per sentence and per reply limits, skips with reasons, fallback voices,
and synthesis that stops when its listener goes away."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import TEST_SECRET
from visavis.components import build_tts
from visavis.config import Settings
from visavis.speech.speakable import SkipReason, Speakable, SpeechSkipped
from visavis.speech.tts.bounded import BoundedVoice, ReplyBudget, SpeechBounds
from visavis.speech.tts.espeak import EspeakEngine
from visavis.speech.tts.piper import PiperEngine, bounded_phonemes

CJK = "我们今天讨论一下这个项目的进展情况以及下一步的计划。" * 20
ENGLISH = (
    "We looked at the plan for the next quarter and agreed on three goals. "
    "The first is to ship the new search page before the end of March. "
    "The second is to halve the time it takes to onboard a new customer. "
    "The third is to answer every support ticket within one working day. "
)


def espeak_voice(**bounds: float) -> BoundedVoice:
    return BoundedVoice(
        EspeakEngine(voice="en-us"),
        voice="en-us",
        bounds=SpeechBounds(**bounds),  # type: ignore[arg-type]
        fallback=lambda name: EspeakEngine(voice=name),
    )


async def spoken(
    voice: BoundedVoice, text: str, **kwargs: object
) -> tuple[float, list[SpeechSkipped], list[Speakable]]:
    skips: list[SpeechSkipped] = []
    fallbacks: list[Speakable] = []
    seconds = 0.0
    async for chunk in voice.synthesize_reply(
        text,
        on_skip=skips.append,
        on_fallback=fallbacks.append,
        **kwargs,  # type: ignore[arg-type]
    ):
        seconds += chunk.duration
    return seconds, skips, fallbacks


async def test_a_reply_in_a_script_nobody_here_speaks_says_nothing_and_says_why() -> None:
    voice = espeak_voice()
    skips: list[SpeechSkipped] = []
    with pytest.raises(SpeechSkipped) as refused:
        async for _ in voice.synthesize_reply(CJK, on_skip=skips.append):
            pytest.fail("no audio may come out of text the voice cannot speak")
    assert refused.value.reason is SkipReason.UNSUPPORTED_SCRIPT
    assert len(skips) == 20 and all(s.reason is SkipReason.UNSUPPORTED_SCRIPT for s in skips)


async def test_mixed_text_speaks_what_it_can_with_a_fallback_for_cyrillic() -> None:
    text = "Hello there. 我们今天讨论一下这个项目。 Привет, как дела? Goodbye now."
    seconds, skips, fallbacks = await spoken(espeak_voice(), text)
    assert 1.0 < seconds < 15.0
    assert [s.reason for s in skips] == [SkipReason.UNSUPPORTED_SCRIPT]
    assert [f.voice for f in fallbacks] == ["ru"]


async def test_the_reply_stops_at_its_seconds_bound() -> None:
    seconds, skips, _ = await spoken(espeak_voice(max_reply_s=5.0), ENGLISH * 4)
    assert 4.0 < seconds <= 5.0 + 1e-6
    assert skips and skips[-1].reason is SkipReason.REPLY_TOO_LONG


async def test_the_reply_stops_at_its_character_bound() -> None:
    bounded, skips, _ = await spoken(espeak_voice(max_reply_chars=200), ENGLISH * 4)
    whole, _, _ = await spoken(espeak_voice(), ENGLISH)
    assert bounded < whole  # 200 characters of a 1,000-character text
    assert skips[-1].reason is SkipReason.REPLY_TOO_LONG


async def test_each_sentence_stops_at_its_seconds_bound() -> None:
    seconds, skips, _ = await spoken(espeak_voice(max_sentence_s=1.0), ENGLISH)
    assert seconds <= 4.0 + 1e-6  # four sentences, a second each at most
    assert len(skips) == 4 and {s.reason for s in skips} == {SkipReason.SENTENCE_TOO_LONG}


async def test_a_reply_budget_carries_across_sentence_calls() -> None:
    voice = espeak_voice(max_reply_s=3.0)
    budget = ReplyBudget(voice.bounds)
    total = 0.0
    with pytest.raises(SpeechSkipped) as over:
        for sentence in ENGLISH.split(". "):
            budget.admit(sentence)
            async for chunk in voice.synthesize_reply(sentence, budget=budget):
                total += chunk.duration
    assert over.value.reason is SkipReason.REPLY_TOO_LONG
    assert total <= 3.0 + 1e-6 and budget.seconds == pytest.approx(total)


def test_the_instance_voice_is_bounded_by_the_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        secret_key=TEST_SECRET,
        tts_engine="espeak",
        tts_max_reply_s=7,
        tts_max_sentence_chars=120,
    )
    voice = build_tts(settings)
    assert isinstance(voice, BoundedVoice)
    assert voice.bounds.max_reply_s == 7 and voice.bounds.max_sentence_chars == 120


def test_long_phoneme_runs_go_through_the_network_in_bounded_pieces() -> None:
    phonemes = list(("abc " * 500).rstrip())
    pieces = list(bounded_phonemes(phonemes, 400))
    assert all(len(piece) <= 400 for piece in pieces)
    assert sum(pieces, []) == phonemes
    assert all(piece[-1] == " " for piece in pieces[:-1])  # cut after word breaks


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    engine = PiperEngine(first_chunk_words=None, threads=1)
    engine.load()
    return engine


async def test_piper_stops_when_its_listener_goes_away(piper: PiperEngine) -> None:
    started = piper.sentences_started
    stream = piper.synthesize(ENGLISH * 5)  # twenty sentences
    first = await anext(stream)  # type: ignore[call-overload]
    assert first.duration > 0.5
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(300):
        if piper.active == 0:
            break
        await asyncio.sleep(0.1)
    assert piper.active == 0
    assert piper.sentences_started - started <= 2, "sentences went on after the listener left"


async def test_piper_makes_no_more_of_a_sentence_than_its_bound(piper: PiperEngine) -> None:
    bounded = PiperEngine(first_chunk_words=None, threads=1, max_sentence_s=2.0)
    long_sentence = ENGLISH.replace(". ", ", and ").rstrip(" .") + "."
    chunks = [chunk async for chunk in bounded.synthesize(long_sentence)]
    assert sum(c.duration for c in chunks) <= 2.0 + 0.05
    assert all(p.end <= c.duration + 1e-6 for c in chunks for p in (c.phones or ())), (
        "phone timings past the audio"
    )


async def test_a_cancelled_reply_stops_the_bounded_piper_voice_too(piper: PiperEngine) -> None:
    voice = BoundedVoice(piper, voice=piper.language)
    started = piper.sentences_started
    first = asyncio.Event()

    async def listen() -> None:
        async for _ in voice.synthesize(ENGLISH * 5):
            first.set()

    task = asyncio.create_task(listen())
    await asyncio.wait_for(first.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(300):
        if piper.active == 0:
            break
        await asyncio.sleep(0.1)
    assert piper.active == 0
    assert piper.sentences_started - started <= 2
