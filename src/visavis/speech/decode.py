"""Any common audio file to mono PCM16 at one rate, through FFmpeg (PyAV's wheels ship it):
WAV of any rate and sample width, FLAC, OGG Vorbis/Opus, WebM/Opus from browsers'
MediaRecorder, MP3, M4A/AAC.

Blocking: call it off the event loop. Decoding stops as soon as the audio passes
``max_seconds``, so a small compressed file cannot expand into unbounded memory.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from visavis.speech.errors import InvalidAudioError

Pcm16 = npt.NDArray[np.int16]

FORMATS_HINT = "WAV, FLAC, OGG, WebM/Opus, MP3 or M4A"


class UnsupportedAudioError(InvalidAudioError):
    """The input is not audio in a format FFmpeg reads (or holds no audio stream)."""

    code = "unsupported_audio"
    http_status = 415


class AudioTooLongError(InvalidAudioError):
    """The audio lasts longer than the limit."""

    code = "audio_too_long"
    http_status = 413


def decode_audio(
    source: bytes | str | Path,
    *,
    sample_rate: int = 16000,
    max_seconds: float | None = None,
    name: str | None = None,
) -> Pcm16:
    """Decode ``source`` (file bytes or a path) to mono PCM16 at ``sample_rate``."""
    import av

    label = name or ("the audio" if isinstance(source, bytes) else str(source))
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise InvalidAudioError(f"{label}: no such file")
    if isinstance(source, bytes) and not source:
        raise InvalidAudioError(f"{label} is empty")
    handle: io.BytesIO | str = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    try:
        container = av.open(handle, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedAudioError(
            f"{label} is not audio in a format we read ({FORMATS_HINT}), or it is corrupt"
        ) from exc
    pieces: list[Pcm16] = []
    total = 0
    try:
        if not container.streams.audio:
            raise UnsupportedAudioError(f"{label} holds no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                total += _collect(out, pieces)
            if limit is not None and total > limit:
                raise AudioTooLongError(f"{label} is longer than the limit of {max_seconds:g} s")
        for out in resampler.resample(None):
            total += _collect(out, pieces)
        declared = _declared_seconds(stream)
    except av.FFmpegError as exc:
        raise InvalidAudioError(f"{label} is corrupt: {_first_line(exc)}") from exc
    finally:
        container.close()
    if limit is not None and total > limit:
        raise AudioTooLongError(f"{label} is longer than the limit of {max_seconds:g} s")
    if total == 0:
        raise InvalidAudioError(f"{label} holds no audio samples")
    decoded = total / sample_rate
    # FFmpeg skips frames it cannot decode; a file that says it lasts longer is damaged.
    if declared is not None and decoded < 0.8 * declared - 0.1:
        raise InvalidAudioError(
            f"{label} is corrupt: only {decoded:.1f} s of the {declared:.1f} s it declares "
            "could be decoded"
        )
    return np.concatenate(pieces)


def _declared_seconds(stream: Any) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _collect(frame: object, pieces: list[Pcm16]) -> int:
    samples = np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1)  # type: ignore[attr-defined]
    pieces.append(samples)
    return len(samples)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
