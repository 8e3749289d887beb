"""The offline recognizers on real (synthesized) speech: text, word times, streams, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.speech.stt.conftest import SENTENCE, word_errors, words_of
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt import STTModelError, Transcript, UnsupportedLanguageError
from visavis.speech.stt.local import LocalSTTEngine, verify_model_files
from visavis.speech.stt.moonshine import MoonshineEngine
from visavis.speech.stt.whisper import MODEL_SHA256, FasterWhisperEngine, WhisperOptions

pytestmark = pytest.mark.slow


async def test_transcribes_a_sentence(local_engine: LocalSTTEngine, speech: np.ndarray) -> None:
    engine = local_engine
    transcript = await engine.transcribe(speech)
    assert transcript.final
    assert word_errors(SENTENCE, transcript.text) <= 1, transcript.text
    assert transcript.duration == pytest.approx(len(speech) / 16000)
    assert transcript.decode_s > 0
    assert transcript.segments and transcript.segments[0].start < 0.5


async def test_another_beam_on_the_same_whisper_model_loads_it_once(
    whisper: FasterWhisperEngine, speech: np.ndarray
) -> None:
    files = whisper.sharing_model(beam_size=5, width_step=1)
    try:
        greedy, beamed = await asyncio.gather(whisper.transcribe(speech), files.transcribe(speech))
        assert word_errors(SENTENCE, greedy.text) <= 1, greedy.text
        assert word_errors(SENTENCE, beamed.text) <= 1, beamed.text
        assert (whisper.options.beam_size, files.options.beam_size) == (1, 5)
        assert files._model is whisper._model  # one copy of the model in memory
        await files.aclose()
        # Closing the second engine leaves the first one's model in place.
        assert word_errors(SENTENCE, (await whisper.transcribe(speech)).text) <= 1
    finally:
        await files.aclose()


async def test_whisper_times_every_word_within_the_audio(
    whisper: FasterWhisperEngine, speech: np.ndarray
) -> None:
    transcript = await whisper.transcribe(speech)
    words = transcript.words
    assert [w.text.strip(".,").lower() for w in words] == words_of(transcript.text)
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= transcript.duration + 0.05 for w in words)
    # "project" is said near the end, "please" at the start.
    assert words[0].start < 0.5 and words[-2].start > transcript.duration / 2


async def test_moonshine_says_it_has_no_word_times(
    moonshine: MoonshineEngine, speech: np.ndarray
) -> None:
    assert moonshine.word_times is False
    transcript = await moonshine.transcribe(speech)
    assert transcript.words == ()
    assert transcript.segments[-1].end <= transcript.duration + 0.1


async def test_stream_gives_partials_then_the_final(
    local_engine: LocalSTTEngine, speech: np.ndarray
) -> None:
    engine = local_engine
    await engine.load()
    stream = engine.stream(language="en")
    seen: list[Transcript] = []

    async def read() -> None:
        async for transcript in stream.transcripts():
            seen.append(transcript)

    reader = asyncio.create_task(read())
    for start in range(0, len(speech), 320):  # 20 ms frames, a little faster than real time
        stream.push_audio(speech[start : start + 320])
        await asyncio.sleep(0.01)
    final = await stream.finish()
    await asyncio.wait_for(reader, 10)
    assert final.final and word_errors(SENTENCE, final.text) <= 1
    assert seen[-1] is final
    partials = seen[:-1]
    assert partials, "no partial while the sentence was spoken"
    assert all(not p.final and p.text for p in partials)
    assert partials[0].duration < final.duration
    assert await stream.finish() is final  # idempotent
    await stream.aclose()
    await stream.aclose()


async def test_one_engine_serves_concurrent_streams_within_its_slots(
    speech: np.ndarray,
) -> None:
    scheduler = DeadlineScheduler(1)
    engine = FasterWhisperEngine(scheduler=scheduler, partial_interval_s=None)
    busy: list[int] = []

    async def watch() -> None:
        while True:
            busy.append(scheduler.busy)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(*(engine.transcribe(speech) for _ in range(3)))
    finally:
        watcher.cancel()
        await engine.aclose()
    assert all(word_errors(SENTENCE, r.text) <= 1 for r in results)
    assert max(busy) == 1


async def test_an_english_only_model_refuses_other_languages(
    whisper: FasterWhisperEngine, speech: np.ndarray
) -> None:
    with pytest.raises(UnsupportedLanguageError, match="en only"):
        await whisper.transcribe(speech, language="de")
    with pytest.raises(UnsupportedLanguageError):
        whisper.stream(language="fr")


async def test_closed_engine_refuses_work(speech: np.ndarray) -> None:
    engine = FasterWhisperEngine(scheduler=DeadlineScheduler(1))
    await engine.aclose()
    await engine.aclose()
    with pytest.raises(STTModelError, match="closed"):
        await engine.transcribe(speech)


def test_model_files_are_checked_against_the_pinned_sums(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not the model")
    with pytest.raises(STTModelError, match="not the pinned model"):
        verify_model_files(tmp_path, {"model.bin": MODEL_SHA256["model.bin"]}, package="p")
    with pytest.raises(STTModelError, match="missing"):
        verify_model_files(tmp_path, {"config.json": "0" * 64}, package="p")


async def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    engine = FasterWhisperEngine(WhisperOptions(model_dir=tmp_path), scheduler=DeadlineScheduler(1))
    with pytest.raises(STTModelError, match="no CTranslate2 Whisper model"):
        await engine.load()
    await engine.aclose()


def test_whisper_options_are_validated() -> None:
    with pytest.raises(ValueError, match="beam_size"):
        WhisperOptions(beam_size=0)


async def test_whisper_hears_nothing_in_silence(whisper: FasterWhisperEngine) -> None:
    transcript = await whisper.transcribe(np.zeros(3 * 16000, np.int16))
    assert transcript.text == "" and transcript.segments == ()


async def test_whisper_beyond_one_window(whisper: FasterWhisperEngine, speech: np.ndarray) -> None:
    """Past ~27 s the utterance goes through Whisper's 30 s windows, times kept throughout."""
    pause = np.zeros(3 * 16000, np.int16)
    long = np.concatenate([speech, pause] * 6)
    assert len(long) / 16000 > 28
    transcript = await whisper.transcribe(long)
    assert word_errors(" ".join([SENTENCE] * 6), transcript.text) <= 6, transcript.text
    assert transcript.words[-1].start > 25
    assert len(transcript.segments) >= 2
