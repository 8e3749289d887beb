"""Acoustic features for alignment and analysis: 10 ms frames of normalized MFCCs + energy.

Everything runs at 16 kHz with numpy only. Features are normalized per utterance (cepstral
mean and variance) and the energy is measured against the loud part of the utterance, so the
models do not depend on the recording level or the speaker's timbre as much.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import fft as scipy_fft

from visavis.speech.audio import (
    Pcm,
    pcm_to_float,
    resample_float,
    resample_margin,
    resample_span,
)

ANALYSIS_RATE = 16000
HOP = 160  # 10 ms
WINDOW = 400  # 25 ms
FFT = 512
MEL_BANDS = 24
CEPSTRA = 17  # c0 (left out: the energy stands for it) and MFCC 1–16
FRAME_SECONDS = HOP / ANALYSIS_RATE
Features = npt.NDArray[np.float32]


@lru_cache(maxsize=8)
def _mel_filterbank(warp: float = 1.0) -> npt.NDArray[np.float32]:
    """Triangular mel filters; ``warp`` scales frequencies (a vocal tract length change)."""

    def mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(np.array(60.0)), mel(np.array(7600.0)), MEL_BANDS + 2)) * warp
    bins = np.fft.rfftfreq(FFT, 1 / ANALYSIS_RATE)
    bank = np.zeros((MEL_BANDS, len(bins)), dtype=np.float32)
    for band in range(MEL_BANDS):
        lo, mid, hi = edges[band : band + 3]
        rising = (bins - lo) / (mid - lo)
        falling = (hi - bins) / (hi - mid)
        bank[band] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank


@lru_cache(maxsize=1)
def _noise() -> npt.NDArray[np.float32]:
    return np.random.default_rng(0).normal(0.0, 3e-4, 16411).astype(np.float32)


@lru_cache(maxsize=1)
def _hamming() -> npt.NDArray[np.float32]:
    return np.hamming(WINDOW).astype(np.float32)


@lru_cache(maxsize=1)
def _dct_matrix() -> npt.NDArray[np.float32]:
    n = np.arange(MEL_BANDS)
    k = np.arange(CEPSTRA)[:, None]
    return np.asarray(np.cos(np.pi * k * (2 * n + 1) / (2 * MEL_BANDS)), dtype=np.float32)


def to_analysis_rate(pcm: Pcm, sample_rate: int) -> npt.NDArray[np.float32]:
    """Mono int16 at any rate to float32 at 16 kHz."""
    return resample_float(pcm_to_float(pcm), sample_rate, ANALYSIS_RATE)


def frame_count(samples: int) -> int:
    """Number of 10 ms frames for ``samples`` at 16 kHz."""
    return max(1, int(np.ceil(samples / HOP)))


def log_mel(
    signal: npt.NDArray[np.float32], warp: float = 1.0
) -> tuple[Features, npt.NDArray[np.float32]]:
    """Log mel band energies and the frame log energy (dB), one row per 10 ms frame."""
    frames = frame_count(len(signal))
    padded = np.concatenate(
        [np.zeros(WINDOW // 2, np.float32), _level(signal), np.zeros(WINDOW + HOP, np.float32)]
    )
    # A faint, fixed noise floor keeps digital silence from looking unlike a real room.
    noise = _noise()
    padded += np.resize(noise, len(padded))
    emphasized = np.empty_like(padded)
    emphasized[0] = padded[0]
    emphasized[1:] = padded[1:] - np.float32(0.97) * padded[:-1]
    windows = np.lib.stride_tricks.sliding_window_view(emphasized, WINDOW)[::HOP][:frames]
    windows = windows * _hamming()
    spectrum = scipy_fft.rfft(windows, FFT, axis=1, workers=1)
    power = spectrum.real**2 + spectrum.imag**2
    mel = np.log(power @ _mel_filterbank(warp).T + 1e-10).astype(np.float32)
    energy = (10.0 * np.log10(np.sum(windows**2, axis=1) + 1e-10)).astype(np.float32)
    return mel, energy


def _level(signal: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scale the signal so its loud frames sit at -20 dBFS (before the fixed noise floor)."""
    blocks = signal[: len(signal) // HOP * HOP].reshape(-1, HOP)
    if len(blocks) == 0:
        return signal
    power = np.mean(blocks.astype(np.float64) ** 2, axis=1)
    loud = float(np.percentile(power, 95))
    if loud <= 1e-12:
        return signal
    return np.asarray(signal * np.float32(np.sqrt(0.01 / loud)), dtype=np.float32)


def _deltas(x: Features) -> Features:
    padded = np.pad(x, ((2, 2), (0, 0)), mode="edge")
    out = (padded[3:-1] - padded[1:-3]) + 2.0 * (padded[4:] - padded[:-4])
    return np.asarray(out / 10.0, dtype=np.float32)


def features(pcm: Pcm, sample_rate: int, *, warp: float = 1.0) -> Features:
    """Per-frame feature vectors (frames × 51): CMVN MFCC 1–16, relative energy, deltas.

    ``warp`` != 1 stretches the spectrum (used to train on many vocal tract lengths).
    """
    signal = to_analysis_rate(pcm, sample_rate)
    mel, energy = log_mel(signal, warp)
    cepstra = mel @ _dct_matrix().T
    cepstra = cepstra[:, 1:]
    loud = float(np.percentile(energy, 95))
    relative = np.maximum(energy - loud, -60.0)[:, None] / 10.0
    speech = energy > loud - 35.0
    reference = cepstra[speech] if speech.sum() > 10 else cepstra
    cepstra = (cepstra - reference.mean(axis=0)) / (reference.std(axis=0) + 1e-3)
    base = np.concatenate([cepstra, relative], axis=1).astype(np.float32)
    delta = _deltas(base)
    return np.concatenate([base, delta, _deltas(delta)], axis=1).astype(np.float32)


# --------------------------------------------------------------------------- long recordings

BLOCK_FRAMES = 3000  # 30 s of frames analyzed at a time: memory stays flat for any length


def level_scale(pcm: Pcm, sample_rate: int) -> float:
    """The factor that brings the loud 10 ms frames of int16 ``pcm`` to -20 dBFS."""
    hop = max(1, sample_rate // 100)
    usable = len(pcm) // hop
    if usable == 0:
        return 1.0
    power = frame_power(pcm, hop) / (32768.0**2)
    loud = float(np.percentile(power, 95))
    return 1.0 if loud <= 1e-12 else float(np.sqrt(0.01 / loud))


def frame_power(pcm: Pcm, hop: int) -> npt.NDArray[np.float32]:
    """Mean square of each whole ``hop``-sample frame of int16 ``pcm``, block by block."""
    frames = len(pcm) // hop
    out = np.empty(frames, dtype=np.float32)
    step = 100_000
    for first in range(0, frames, step):
        last = min(frames, first + step)
        block = pcm[first * hop : last * hop].astype(np.float32).reshape(-1, hop)
        out[first:last] = np.mean(np.square(block), axis=1)
    return out


def cepstra_blocks(
    pcm: Pcm, sample_rate: int, *, block_frames: int = BLOCK_FRAMES
) -> tuple[Features, npt.NDArray[np.float32]]:
    """MFCC 1–16 and frame energy (dB) of a recording of any length, 30 s at a time.

    The same analysis as :func:`features` before its per-utterance normalization; the level
    is set once for the whole recording, so blocks join without seams.
    """
    scale = np.float32(level_scale(pcm, sample_rate))
    divisor = math.gcd(sample_rate, ANALYSIS_RATE)
    up, down = ANALYSIS_RATE // divisor, sample_rate // divisor
    total = -(-len(pcm) * up // down)  # resample_poly's output length
    frames = frame_count(total)
    cepstra = np.empty((frames, CEPSTRA - 1), dtype=np.float32)
    energy = np.empty(frames, dtype=np.float32)
    margin = resample_margin(sample_rate, ANALYSIS_RATE)
    noise = _noise()
    half = WINDOW // 2
    for first in range(0, frames, block_frames):
        last = min(frames, first + block_frames)
        # 16 kHz samples the block's windows reach (one more before, for pre-emphasis).
        lo, hi = first * HOP - half - 1, (last - 1) * HOP + half
        a, b = max(0, lo), min(total, hi)
        segment = np.zeros(hi - lo, dtype=np.float32)
        if b > a:
            src_lo = max(0, a * down // up - margin)
            src_hi = min(len(pcm), -(-b * down // up) + margin)
            piece = pcm_to_float(pcm[src_lo:src_hi]) * scale
            if up == down:
                resampled = piece[a - src_lo : b - src_lo]
            else:
                src_a = a * down // up
                src_b = min(len(pcm), -(-b * down // up) + 1)
                out = resample_span(piece, src_lo, (src_a, src_b), sample_rate, ANALYSIS_RATE)
                offset = a - (-(-src_a * up // down))  # out starts at that output sample
                resampled = out[offset : offset + b - a]
            segment[a - lo : a - lo + len(resampled)] = resampled
        # The fixed noise floor, on the same grid as in :func:`log_mel`.
        index = (np.arange(lo, hi) + half) % len(noise)
        segment += noise[index]
        emphasized = segment[1:] - np.float32(0.97) * segment[:-1]
        if lo < -half:  # the very first padded sample is not pre-emphasized
            emphasized[-half - lo - 1] = segment[-half - lo]
        windows = np.lib.stride_tricks.sliding_window_view(emphasized, WINDOW)[::HOP]
        windows = windows[: last - first] * _hamming()
        spectrum = scipy_fft.rfft(windows, FFT, axis=1, workers=1)
        power = spectrum.real**2 + spectrum.imag**2
        mel = np.log(power @ _mel_filterbank().T + 1e-10).astype(np.float32)
        cepstra[first:last] = (mel @ _dct_matrix().T)[:, 1:]
        energy[first:last] = 10.0 * np.log10(np.sum(windows**2, axis=1) + 1e-10)
    return cepstra, energy


def normalized_features(
    cepstra: Features,
    energy: npt.NDArray[np.float32],
    span: tuple[int, int],
    context: int = 2000,
) -> Features:
    """Features of frames ``span`` as :func:`features` makes them for a short utterance.

    Level and cepstral normalization use the frames within ``context`` of the span (the
    voice and room around it), so a long recording's changes of speaker or level follow.
    """
    start, end = span
    lo, hi = max(0, start - context), min(len(energy), end + context)
    around, near = energy[lo:hi], cepstra[lo:hi]
    loud = float(np.percentile(around, 95))
    speech = around > loud - 35.0
    reference = near[speech] if speech.sum() > 10 else near
    mean, std = reference.mean(axis=0), reference.std(axis=0) + 1e-3
    pad_lo, pad_hi = max(0, start - 4), min(len(energy), end + 4)
    local = (cepstra[pad_lo:pad_hi] - mean) / std
    relative = np.maximum(energy[pad_lo:pad_hi] - loud, -60.0)[:, None] / 10.0
    base = np.concatenate([local, relative], axis=1).astype(np.float32)
    delta = _deltas(base)
    full = np.concatenate([base, delta, _deltas(delta)], axis=1)
    return np.ascontiguousarray(full[start - pad_lo : end - pad_lo], dtype=np.float32)
