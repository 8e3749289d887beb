"""Audio input/output helpers: decoding WAV files to mono int16 and resampling."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from visavis.speech.errors import InvalidAudioError

Pcm = npt.NDArray[np.int16]

SUPPORTED_SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


def read_audio(source: str | Path | bytes | BinaryIO) -> tuple[Pcm, int]:
    """Decode a WAV/FLAC/OGG file (any common sample format and rate) to mono int16 PCM.

    ``source`` is a path, the file's bytes, or an open binary file. The audio is decoded a
    block at a time, so an hour-long recording costs little beyond its int16 samples.
    """
    if isinstance(source, str | Path):
        name = str(source)
        if not Path(source).is_file():
            raise InvalidAudioError(f"{name}: no such file")
        handle: io.BytesIO | str | BinaryIO = name
    else:
        name = "<bytes>" if isinstance(source, bytes) else "<upload>"
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with sf.SoundFile(handle) as audio:
            rate = int(audio.samplerate)
            # Filled in place: one int16 copy of the samples, however long the file.
            out: Pcm = np.empty(max(0, audio.frames), dtype=np.int16)
            filled = 0
            for block in audio.blocks(_READ_BLOCK, dtype="float32", always_2d=True):
                mono = block.mean(axis=1)
                if not np.all(np.isfinite(mono)):
                    raise InvalidAudioError(f"{name}: the audio holds invalid (non-finite) samples")
                if filled + len(mono) > len(out):  # a header that undercounts its frames
                    out = np.concatenate([out[:filled], np.empty(len(mono), np.int16)])
                out[filled : filled + len(mono)] = float_to_pcm(mono)
                filled += len(mono)
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError) as exc:
        raise InvalidAudioError(f"{name}: not a readable audio file ({_first_line(exc)})") from exc
    if filled == 0:
        raise InvalidAudioError(f"{name}: the audio holds no samples")
    return out[:filled], rate


_READ_BLOCK = 1 << 20  # frames decoded at a time


def write_wav(path: str | Path, pcm: Pcm, sample_rate: int) -> None:
    """Write mono 16-bit PCM to a WAV file."""
    sf.write(str(path), np.asarray(pcm, dtype=np.int16), sample_rate, subtype="PCM_16")


def float_to_pcm(samples: npt.NDArray[np.floating]) -> Pcm:
    """Convert float samples in [-1, 1] to int16, clipping what lies outside."""
    scaled = np.clip(np.asarray(samples, dtype=np.float32) * 32767.0, -32768.0, 32767.0)
    out: Pcm = np.rint(scaled).astype(np.int16)
    return out


def pcm_to_float(pcm: Pcm) -> npt.NDArray[np.float32]:
    """Convert int16 samples to float32 in [-1, 1)."""
    return np.asarray(pcm, dtype=np.float32) / 32768.0


def resample(pcm: Pcm, source_rate: int, target_rate: int) -> Pcm:
    """Resample mono int16 PCM with a polyphase filter (exact rational ratio)."""
    if source_rate <= 0 or target_rate <= 0:
        raise InvalidAudioError(f"invalid sample rate {source_rate} -> {target_rate}")
    if source_rate == target_rate or len(pcm) == 0:
        return np.asarray(pcm, dtype=np.int16)
    divisor = math.gcd(source_rate, target_rate)
    up, down = target_rate // divisor, source_rate // divisor
    from scipy.signal import resample_poly  # heavy: only when resampling

    out = resample_poly(pcm_to_float(pcm), up, down)
    return float_to_pcm(out)


def resample_margin(source_rate: int, target_rate: int) -> int:
    """Source samples each side of a span that ``resample_span`` needs beyond it (grid + filter)."""
    divisor = math.gcd(source_rate, target_rate)
    up, down = target_rate // divisor, source_rate // divisor
    if up == down:
        return 0
    # resample_poly's default filter reaches 10 * max(up, down) taps of the upsampled signal.
    return down + math.ceil(10 * max(up, down) / up) + 1


def resample_span(
    piece: npt.NDArray[np.float32],
    piece_start: int,
    span: tuple[int, int],
    source_rate: int,
    target_rate: int,
) -> npt.NDArray[np.float32]:
    """The target-rate samples of source samples ``span`` of a longer signal, from a piece of it.

    ``piece`` holds the signal's samples from index ``piece_start``. Spans cut one after
    another come out exactly as resampling the whole signal at once (one sample grid, no
    seam), provided the piece reaches ``resample_margin`` samples beyond the span on each
    side, or the signal's own start or end.
    """
    start, end = span
    if source_rate == target_rate:
        return piece[start - piece_start : end - piece_start]
    divisor = math.gcd(source_rate, target_rate)
    up, down = target_rate // divisor, source_rate // divisor
    from scipy.signal import resample_poly  # heavy: only when resampling

    # Output samples fall on the whole signal's grid only from a multiple of ``down``.
    grid_start = -(-piece_start // down) * down
    if grid_start > start:
        raise ValueError(f"piece from {piece_start} is too short before the span {span}")
    out = resample_poly(piece[grid_start - piece_start :], up, down)
    first = grid_start * up // down
    return np.asarray(
        out[-(-start * up // down) - first : -(-end * up // down) - first], np.float32
    )


def resample_float(
    samples: npt.NDArray[np.float32], source_rate: int, target_rate: int
) -> npt.NDArray[np.float32]:
    """Resample float samples (used by the analyzers, which work at 16 kHz)."""
    if source_rate == target_rate:
        return samples
    from scipy.signal import resample_poly  # heavy: only when resampling

    divisor = math.gcd(source_rate, target_rate)
    out = resample_poly(samples, target_rate // divisor, source_rate // divisor)
    return np.asarray(out, dtype=np.float32)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
