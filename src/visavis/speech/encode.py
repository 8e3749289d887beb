"""Mono PCM16 to the audio formats clients ask for: WAV and raw PCM directly, FLAC, MP3,
Opus (in Ogg) and AAC (in ADTS) through FFmpeg (PyAV's wheels ship it). Blocking."""

from __future__ import annotations

import io
import wave
from typing import Literal

import numpy as np
import numpy.typing as npt

Pcm16 = npt.NDArray[np.int16]
AudioFormat = Literal["wav", "pcm", "flac", "mp3", "opus", "aac"]
MEDIA_TYPES: dict[AudioFormat, str] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
}
# container, codec, the codec's sample rate (Opus runs at 48 kHz only).
_CODECS: dict[str, tuple[str, str, int | None]] = {
    "flac": ("flac", "flac", None),
    "mp3": ("mp3", "libmp3lame", None),
    "opus": ("ogg", "libopus", 48000),
    "aac": ("adts", "aac", None),
}


def encode_audio(pcm: Pcm16, sample_rate: int, fmt: AudioFormat) -> bytes:
    """``pcm`` as a file (or raw little-endian samples for ``pcm``) in ``fmt``."""
    samples = np.asarray(pcm, dtype=np.int16)
    if fmt == "pcm":
        return samples.astype("<i2").tobytes()
    if fmt == "wav":
        return wav_bytes(samples, sample_rate)
    import av

    container, codec, codec_rate = _CODECS[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=codec_rate or sample_rate, layout="mono")
        if not isinstance(stream, av.AudioStream):
            raise TypeError(f"{codec} is not an audio codec")
        rate = codec_rate or sample_rate
        resampler = av.AudioResampler(
            format=stream.codec_context.format or "s16", layout="mono", rate=rate
        )
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def wav_bytes(pcm: Pcm16, sample_rate: int = 16000) -> bytes:
    """Mono PCM16 as a WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buffer.getvalue()
