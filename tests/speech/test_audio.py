from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from visavis.speech.audio import (
    read_audio,
    resample,
    resample_float,
    resample_margin,
    resample_span,
)
from visavis.speech.errors import InvalidAudioError


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_U8", "FLOAT"])
def test_common_wav_formats_decode_to_mono_int16(tmp_path: Path, subtype: str) -> None:
    t = np.arange(8000) / 8000
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1)
    path = tmp_path / "tone.wav"
    sf.write(path, stereo, 8000, subtype=subtype)
    pcm, rate = read_audio(path)
    assert rate == 8000 and pcm.dtype == np.int16 and pcm.ndim == 1
    assert 15000 < np.abs(pcm).max() < 17000


def test_not_audio_corrupt_and_empty_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    with pytest.raises(InvalidAudioError, match="not a readable audio file"):
        read_audio(text)
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(1000), 16000, subtype="PCM_16")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(good.read_bytes()[:30])
    with pytest.raises(InvalidAudioError):
        read_audio(corrupt)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000, subtype="PCM_16")
    with pytest.raises(InvalidAudioError, match="no samples"):
        read_audio(empty)
    with pytest.raises(InvalidAudioError, match="no such file"):
        read_audio(tmp_path / "missing.wav")


@pytest.mark.parametrize("target", [16000, 22050, 24000, 48000])
def test_resampling_keeps_length_and_pitch(target: int) -> None:
    t = np.arange(22050) / 22050
    pcm = (10000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    out = resample(pcm, 22050, target)
    assert abs(len(out) - target) <= 1
    spectrum = np.abs(np.fft.rfft(out.astype(float)))
    assert abs(np.argmax(spectrum) * target / len(out) - 300) < 3


@pytest.mark.parametrize(
    ("source", "target"), [(22050, 24000), (22050, 16000), (22050, 8000), (24255, 24000)]
)
def test_spans_resampled_apart_join_into_the_whole_signal_resampled(
    source: int, target: int
) -> None:
    signal = np.random.default_rng(3).normal(size=30_000).astype(np.float32)
    whole = resample_float(signal, source, target)
    margin = resample_margin(source, target)
    cuts = [0, 5_001, 5_500, 17_777, 30_000]
    spans = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        first = max(0, start - margin)
        piece = signal[first : end + margin]
        spans.append(resample_span(piece, first, (start, end), source, target))
    np.testing.assert_allclose(np.concatenate(spans), whole, atol=1e-6)
    with pytest.raises(ValueError, match="too short"):
        resample_span(signal[5_000:], 5_000, (5_001, 6_000), source, target)
