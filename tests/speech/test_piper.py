import time
from types import SimpleNamespace

import numpy as np
import pytest

from visavis.speech.errors import UnspeakableTextError, VoiceLoadError
from visavis.speech.tts.base import AudioChunk, PhoneTiming, trim_trailing_quiet
from visavis.speech.tts.piper import PiperEngine, PiperVoicePaths
from visavis.speech.tts.piper_phones import alignments_to_phones, phoneme_samples


def test_piper_durations_become_phones_with_stress_on_the_vowel() -> None:
    hop = 256
    pairs = [("^", 2 * hop), ("b", hop), ("ˈ", 2 * hop), ("ɑ", 3 * hop), ("ː", hop), ("p", hop),
             (" ", hop), (".", 4 * hop), ("$", hop)]  # fmt: skip
    total = sum(n for _, n in pairs)
    phones = alignments_to_phones(pairs, 22050, total) or ()
    assert [p.phone for p in phones] == ["SIL", "B", "AA", "P", "SIL"]
    vowel = phones[2]
    assert vowel.start == pytest.approx(3 * hop / 22050)
    assert vowel.end == pytest.approx(9 * hop / 22050)
    assert phones[-1].end == pytest.approx(total / 22050)


def test_the_pad_between_two_phonemes_belongs_to_the_phone_after_it() -> None:
    config = SimpleNamespace(phoneme_id_map={"^": [1], "_": [0], "$": [2], "b": [3], "a": [4]})
    # Frames per id as Piper lays the ids out: ^ _ b _ a _ $
    frames = np.array([2, 3, 4, 5, 6, 7, 1])
    timing = phoneme_samples(config, ["b", "a"], frames, 10)
    assert timing == [("^", 20), ("b", 70), ("a", 110), ("$", 80)]
    assert phoneme_samples(config, ["b", "a", "a"], frames, 10) == []  # ids do not add up


def test_a_cut_sentence_part_loses_its_closing_silence_but_not_its_sounds() -> None:
    rate = 22050
    voiced = (np.sin(np.arange(rate) / 7) * 8000).astype(np.int16)
    pcm = np.concatenate([voiced, np.full(rate // 2, 20, dtype=np.int16)])
    phones = (PhoneTiming("AA", 0.0, 1.0), PhoneTiming("SIL", 1.0, 1.5))
    trimmed = trim_trailing_quiet(AudioChunk(pcm=pcm, sample_rate=rate, text="ah", phones=phones))
    assert trimmed.duration == pytest.approx(1.06, abs=0.01)
    assert np.array_equal(trimmed.pcm[:rate], voiced)
    assert trimmed.phones is not None and trimmed.phones[-1].end == pytest.approx(trimmed.duration)


def test_missing_voice_file_is_a_load_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = PiperEngine(voice=PiperVoicePaths.from_model(tmp_path / "nope.onnx"))
    with pytest.raises(VoiceLoadError):
        engine.load()


@pytest.mark.slow
async def test_default_voice_streams_sentences_with_exact_timings() -> None:
    engine = PiperEngine()
    chunks = [
        c async for c in engine.synthesize("Hello there, my friend. Good bye.", sample_rate=16000)
    ]
    assert [c.text for c in chunks] == ["Hello there,", "my friend.", "Good bye."]
    for chunk in chunks:
        assert chunk.sample_rate == 16000 and len(chunk.pcm) > 1000
        assert chunk.phones is not None
        assert chunk.phones[-1].end == pytest.approx(chunk.duration, abs=0.01)
        assert np.abs(chunk.pcm).max() > 1000
    names = [p.phone for p in chunks[-1].phones or ()]
    assert "G" in names and "B" in names
    # The first sentence of a reply comes in a short first part, cut at a comma or a few words.
    first, rest = "I think we should", "meet again next week to talk about the plan."
    parts = [c.text async for c in engine.synthesize(f"{first} {rest} See you.")]
    assert parts == [first, rest, "See you."]
    greeting = [c async for c in engine.synthesize("Hello there, how are you?")]
    assert [c.text for c in greeting] == ["Hello there,", "how are you?"]
    assert greeting[0].duration < 1.0  # its closing silence is trimmed: no pause at the cut
    with pytest.raises(UnspeakableTextError):
        [c async for c in engine.synthesize("   ")]
    # A second engine shares the loaded voice: no second load.
    started = time.perf_counter()
    PiperEngine().load()
    assert time.perf_counter() - started < 0.5


@pytest.mark.slow
async def test_first_words_come_first_and_join_the_rest_without_a_seam() -> None:
    # No sampling noise: two syntheses of one sentence are then the same audio.
    engine = PiperEngine(first_chunk_words=None, variation=0.0)
    sentence = "Please take a seat and tell me about your last project."
    for rate in (24000, 16000):
        streamed = [
            c async for c in engine.synthesize(sentence, sample_rate=rate, first_chunk_s=0.3)
        ]
        assert [c.continued for c in streamed] == [True, False]
        assert " ".join(c.text for c in streamed) == sentence
        head, rest = streamed
        assert 0.3 <= head.duration < 1.2 and 0 < len(head.text.split()) < 4
        for chunk in streamed:
            assert chunk.phones and chunk.phones[-1].end == pytest.approx(chunk.duration, abs=0.02)
        (whole,) = [c async for c in engine.synthesize(sentence, sample_rate=rate)]
        joined = np.concatenate([head.pcm, rest.pcm]).astype(np.int32)
        assert len(joined) == len(whole.pcm)
        # The same samples to rounding: no click, gap or repeat where the chunks meet.
        assert np.abs(joined - whole.pcm.astype(np.int32)).max() <= 2
        # The phones, too, are the unsplit sentence's, each on its own chunk's clock.
        names = [p.phone for c in streamed for p in c.phones or ()]
        assert names == [p.phone for p in whole.phones or ()]


@pytest.mark.slow
def test_a_voice_without_variation_says_a_text_the_same_way_every_time() -> None:
    text = "I work as a nurse in a big hospital in the city."
    natural = PiperEngine(first_chunk_words=None)
    fixed = PiperEngine(first_chunk_words=None, variation=0.0)
    a, b = (natural.synthesize_sentence(text)[0].pcm for _ in range(2))
    assert len(a) != len(b) or not np.array_equal(a, b)  # the voice's own timing and tone vary
    c, d = (fixed.synthesize_sentence(text)[0].pcm for _ in range(2))
    assert np.array_equal(c, d)
    with pytest.raises(ValueError, match="variation"):
        PiperEngine(variation=-1)


@pytest.mark.slow
def test_the_voice_speaks_at_a_steady_level_not_one_peak_per_sentence() -> None:
    engine = PiperEngine(first_chunk_words=None)
    peaks = [
        int(np.abs(engine.synthesize_sentence(text)[0].pcm).max())
        for text in ("Yes.", "The quick brown fox jumps over the lazy dog!")
    ]
    assert all(8000 < peak <= 32767 for peak in peaks)
    assert len(set(peaks)) == 2  # Piper's own normalization would put both at full scale
