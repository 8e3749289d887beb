"""The shared audio path: resampling that is seamless across chunks, and chunk sizes."""

from __future__ import annotations

import numpy as np
import pytest

from visavis.avatars.audio_stream import AudioChunking, LinearResampler


def tone(rate: int, seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 10000).astype("<i2")


@pytest.mark.parametrize(("source", "target"), [(22050, 24000), (24000, 16000), (16000, 24000)])
def test_chunked_resampling_equals_one_pass_and_keeps_the_length(source: int, target: int) -> None:
    signal = tone(source, 1.0)
    whole = np.frombuffer(LinearResampler(source, target).process(signal.tobytes()), "<i2")
    streaming = LinearResampler(source, target)
    pieces = [streaming.process(signal[i : i + 777].tobytes()) for i in range(0, signal.size, 777)]
    chunked = np.frombuffer(b"".join(pieces), "<i2")
    assert chunked.size == whole.size == pytest.approx(target, abs=2)
    # The same samples, but for float rounding of the carried phase (one step of 16 bits).
    assert np.max(np.abs(chunked.astype(np.int32) - whole)) <= 1


def test_a_resampled_tone_keeps_its_pitch() -> None:
    out = np.frombuffer(LinearResampler(24000, 16000).process(tone(24000, 1.0).tobytes()), "<i2")
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    assert np.argmax(spectrum) * 16000 / out.size == pytest.approx(220, abs=2)


def test_the_same_rate_passes_through() -> None:
    data = tone(24000, 0.1).tobytes()
    assert LinearResampler(24000, 24000).process(data) == data


def test_chunk_sizes_are_whole_samples() -> None:
    chunking = AudioChunking(sample_rate=24000, first_chunk_ms=600, chunk_ms=1000)
    assert chunking.chunk_bytes(first=True) == 28800
    assert chunking.chunk_bytes(first=False) == 48000
    assert (
        AudioChunking(sample_rate=22050, first_chunk_ms=333, chunk_ms=1).chunk_bytes(first=True) % 2
        == 0
    )
