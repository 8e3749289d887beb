"""Voice samples: any common format decoded, each problem reported so a person can fix it."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from tests.voices.audio import RATE, halting, hardly_pausing, reading, room, wav, webm_opus
from visavis.errors import InvalidInputError
from visavis.voices.decoding import UnreadableAudio, decode
from visavis.voices.jobs import choose_reference
from visavis.voices.validation import reference_clip, validate


@pytest.fixture(scope="module")
def speech() -> npt.NDArray[np.float32]:
    return reading()


def codes(data: bytes) -> dict[str, str]:
    report = validate(decode(data, max_seconds=120))
    return {p.code: p.severity for p in report.problems}


def test_a_good_sample_passes_in_a_browsers_webm_opus(speech: npt.NDArray[np.float32]) -> None:
    audio = decode(webm_opus(room(speech)), max_seconds=120)
    assert audio.codec == "opus" and audio.source_rate == 48000
    report = validate(audio)
    assert report.usable, report.problems
    assert 25 < report.duration_s < 40 and report.speech_share > 0.7
    assert report.snr_db > 25 and report.clipping_share == 0
    clip = reference_clip(audio, report)
    assert 3.0 <= len(clip) / RATE <= 10.0


def test_music_silence_and_noise_are_not_speech() -> None:
    seconds = np.arange(30 * RATE) / RATE
    melody = sum(
        0.2 * np.sin(2 * np.pi * f * seconds) * (np.sin(2 * np.pi * 2 * seconds) > 0)
        for f in (262, 330, 392)
    ).astype(np.float32)
    assert codes(wav(melody))["not_speech"] == "error"
    assert codes(wav(np.zeros(30 * RATE, dtype=np.float32)))["not_speech"] == "error"
    noise = np.random.default_rng(2).normal(0, 0.1, 30 * RATE).astype(np.float32)
    assert codes(wav(noise))["not_speech"] == "error"


def test_each_recording_fault_says_what_to_do(speech: npt.NDArray[np.float32]) -> None:
    assert codes(wav(np.clip(speech * 8, -1, 1)))["clipping"] == "error"
    assert codes(wav(speech * 0.005))["too_quiet"] == "error"
    noisy = speech + np.random.default_rng(3).normal(0, 0.05, len(speech)).astype(np.float32)
    assert codes(wav(noisy))["noisy"] == "error"
    assert codes(wav(speech[: 6 * RATE]))["too_short"] == "error"
    assert codes(wav(speech[: 15 * RATE]))["short"] == "warning"
    narrowband = speech[::2].copy()
    assert codes(wav(narrowband, 8000))["low_sample_rate"] == "error"
    report = validate(decode(wav(np.clip(speech * 8, -1, 1)), max_seconds=120))
    clipping = next(p for p in report.problems if p.code == "clipping")
    assert "lower the microphone gain" in clipping.message


@pytest.mark.parametrize(("room_dbfs", "verdict"), [(-60, set()), (-40, {"some_noise"})])
def test_the_noise_is_measured_under_someone_who_hardly_pauses(
    room_dbfs: float, verdict: set[str]
) -> None:
    voice = room(np.tile(hardly_pausing(), 2), noise=10 ** (room_dbfs / 20))
    # The recording starts wherever the person happens to be in their reading.
    for start_s in np.arange(0.0, 30.0, 2.3):
        report = validate(decode(wav(voice[int(start_s * RATE) :][: 25 * RATE]), max_seconds=120))
        assert abs(report.noise_floor_dbfs - room_dbfs) < 2, (start_s, report)
        assert {p.code for p in report.problems} == verdict, (start_s, report)


def test_corrupt_empty_and_two_hour_uploads_are_refused_before_decoding() -> None:
    with pytest.raises(UnreadableAudio, match="not audio we can read"):
        decode(b"\x1aE\xdf\xa3 this is not a webm file" * 50, max_seconds=120)
    with pytest.raises(UnreadableAudio, match="empty"):
        decode(b"", max_seconds=120)
    # Two hours (of silence, so the file is small): refused from its declared length.
    two_hours = io.BytesIO()
    minute = np.zeros(8000 * 60, dtype=np.int16)
    with soundfile.SoundFile(
        two_hours, "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16"
    ) as flac:
        for _ in range(120):
            flac.write(minute)
    with pytest.raises(UnreadableAudio, match="120 min long"):
        decode(two_hours.getvalue(), max_seconds=120)
    with pytest.raises(UnreadableAudio, match="3 s long"):
        decode(wav(np.zeros(3 * RATE, dtype=np.float32)), max_seconds=2)


def test_no_reference_clip_without_a_long_enough_stretch_of_speech(
    speech: npt.NDArray[np.float32],
) -> None:
    choppy = np.concatenate(
        [
            np.concatenate([speech[i : i + RATE], np.zeros(RATE, dtype=np.float32)])
            for i in range(0, 12 * RATE, RATE)
        ]
    )
    audio = decode(wav(choppy), max_seconds=120)
    report = validate(audio)
    with pytest.raises(InvalidInputError, match="continuous speech"):
        reference_clip(audio, report)
    # Said when a sample is recorded, so the person can record it again then.
    report = validate(decode(wav(halting()), max_seconds=120))
    assert report.usable, report.problems
    warning = next(p for p in report.problems if p.code == "no_stretch")
    assert warning.severity == "warning" and "straight through" in warning.message
    assert "no_stretch" not in codes(wav(speech))


def test_the_reference_clip_comes_from_the_cleanest_sample_that_has_one(
    speech: npt.NDArray[np.float32],
) -> None:
    choppy = np.concatenate(
        [
            np.concatenate([speech[i : i + RATE], np.zeros(RATE, dtype=np.float32)])
            for i in range(0, 12 * RATE, RATE)
        ]
    )
    steady = room(speech, noise=0.003)
    clip, index = choose_reference([choppy, steady], [60.0, 30.0])
    assert index == 1 and 3.0 <= len(clip) / RATE <= 10.0
    with pytest.raises(InvalidInputError, match="continuous speech"):
        choose_reference([choppy, choppy], [60.0, 50.0])
