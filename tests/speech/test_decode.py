"""Any common audio format to 16 kHz mono PCM16, and clear errors for everything else."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from visavis.speech.decode import AudioTooLongError, UnsupportedAudioError, decode_audio
from visavis.speech.errors import InvalidAudioError

SECONDS = 1.5


def _signal(rate: int) -> np.ndarray:
    """A 440 Hz tone whose loudness rises: its shape survives any codec and rate."""
    t = np.arange(int(SECONDS * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * (0.2 + 0.5 * t / SECONDS)).astype(np.float32)


def _soundfile(fmt: str, subtype: str, rate: int, channels: int) -> bytes:
    mono = _signal(rate)
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _encoded(container: str, codec: str, rate: int) -> bytes:
    """What a browser's MediaRecorder (WebM/Opus) or an encoder (MP3, M4A) produces."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        samples = _signal(rate)
        step = 960
        for index, start in enumerate(range(0, len(samples), step)):
            piece = samples[start : start + step]
            frame = av.AudioFrame.from_ndarray(piece[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = index * step
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


FORMATS: dict[str, Callable[[], bytes]] = {
    "wav-16bit-16k": lambda: _soundfile("WAV", "PCM_16", 16000, 1),
    "wav-8bit-8k": lambda: _soundfile("WAV", "PCM_U8", 8000, 1),
    "wav-24bit-44k-stereo": lambda: _soundfile("WAV", "PCM_24", 44100, 2),
    "wav-float-48k": lambda: _soundfile("WAV", "FLOAT", 48000, 1),
    "flac-22k": lambda: _soundfile("FLAC", "PCM_16", 22050, 1),
    "ogg-vorbis-44k": lambda: _soundfile("OGG", "VORBIS", 44100, 2),
    "ogg-opus-48k": lambda: _soundfile("OGG", "OPUS", 48000, 1),
    "webm-opus-48k": lambda: _encoded("webm", "libopus", 48000),
    "mp3-44k": lambda: _encoded("mp3", "libmp3lame", 44100),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_common_formats_decode_to_16khz_mono(name: str) -> None:
    pcm = decode_audio(FORMATS[name](), name=name)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    # Codecs add a little padding; the length stays within a frame or two of the truth.
    assert len(pcm) / 16000 == pytest.approx(SECONDS, abs=0.08)
    reference = _signal(16000)
    # Same loudness curve: the quiet start and the loud end land where they should.
    head = np.abs(pcm[1600:4000].astype(np.float32)).mean() / 32768
    tail = np.abs(pcm[-8000:-1600].astype(np.float32)).mean() / 32768
    assert head == pytest.approx(np.abs(reference[1600:4000]).mean(), rel=0.25)
    assert tail == pytest.approx(np.abs(reference[-8000:-1600]).mean(), rel=0.25)


def test_a_path_decodes_like_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "speech.flac"
    path.write_bytes(FORMATS["flac-22k"]())
    assert np.array_equal(decode_audio(path), decode_audio(path.read_bytes()))


def test_other_rates_on_request() -> None:
    pcm = decode_audio(FORMATS["wav-16bit-16k"](), sample_rate=24000)
    assert len(pcm) == pytest.approx(SECONDS * 24000, abs=100)


def test_text_is_not_audio() -> None:
    with pytest.raises(UnsupportedAudioError, match=r"not audio in a format we read \(WAV"):
        decode_audio(b"Hello, this is not audio at all. " * 20, name="notes.txt")


def test_a_silent_video_holds_no_audio_stream() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for packet in stream.encode(frame.reformat(format="yuvj420p")):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(UnsupportedAudioError, match="holds no audio stream"):
        decode_audio(buffer.getvalue(), name="video.mkv")


def test_corrupt_audio_is_refused() -> None:
    flac = bytearray(FORMATS["flac-22k"]())
    rng = np.random.default_rng(0)
    for index in rng.integers(200, len(flac), 400):
        flac[index] ^= 0xFF
    with pytest.raises(InvalidAudioError) as caught:
        decode_audio(bytes(flac), name="broken.flac")
    assert "broken.flac" in caught.value.message


def test_a_truncated_header_is_refused() -> None:
    with pytest.raises(InvalidAudioError):
        decode_audio(FORMATS["wav-16bit-16k"]()[:30], name="cut.wav")


def test_empty_and_missing_inputs() -> None:
    with pytest.raises(InvalidAudioError, match="is empty"):
        decode_audio(b"")
    with pytest.raises(InvalidAudioError, match="no such file"):
        decode_audio("/nonexistent/audio.wav")
    with pytest.raises(InvalidAudioError, match="no audio samples"):
        decode_audio(_soundfile("WAV", "PCM_16", 16000, 1)[:44])


def test_too_long_audio_stops_decoding_at_the_limit() -> None:
    with pytest.raises(AudioTooLongError, match="longer than the limit of 1 s"):
        decode_audio(FORMATS["webm-opus-48k"](), max_seconds=1.0)
    assert len(decode_audio(FORMATS["webm-opus-48k"](), max_seconds=2.0)) > 0
