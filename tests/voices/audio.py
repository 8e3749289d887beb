"""Recordings for voice tests: real synthesized speech, and the formats browsers upload."""

from __future__ import annotations

import functools
import io

import av
import numpy as np
import numpy.typing as npt
import soundfile

from visavis.speech.tts.espeak import EspeakEngine

RATE = 16000
SENTENCES = [
    "My name is Maya and I design robots for hospital pharmacies.",
    "I grew up in Manchester after my family moved from Enugu.",
    "Every morning I run along the river before work.",
    "On Sundays I cook my mother's jollof rice for friends.",
    "I play the bass guitar in a small jazz band.",
    "The best advice I ever got was to fix the small thing first.",
    "My partner restores old tiled buildings in Lisbon.",
    "We have a grey cat who sleeps on my sketchbooks.",
    "I believe good robots should be quiet and easy to stop.",
    "I mentor young women who want to become engineers.",
    "My favourite place is an empty beach in winter.",
    "I drink my coffee black, at least three a day.",
]


@functools.cache
def reading() -> npt.NDArray[np.float32]:
    """About 30 s of one voice reading, with short pauses, at 16 kHz."""
    engine = EspeakEngine()
    pause = np.zeros(int(0.25 * RATE), dtype=np.float32)
    parts = []
    for sentence in SENTENCES:
        chunk = engine.synthesize_sentence(sentence, RATE)
        parts.extend([chunk.pcm.astype(np.float32) / 32768 * 0.8, pause])
    return np.concatenate(parts)


@functools.cache
def hardly_pausing() -> npt.NDArray[np.float32]:
    """The same sentences read on without a breath: 80 ms between them, and none of the
    synthesizer's own silences."""
    engine = EspeakEngine()
    gap = np.zeros(int(0.08 * RATE), dtype=np.float32)
    parts = []
    for sentence in SENTENCES:
        pcm = engine.synthesize_sentence(sentence, RATE).pcm.astype(np.float32) / 32768
        loud = np.flatnonzero(np.abs(pcm) > 0.02 * np.abs(pcm).max())
        parts += [pcm[loud[0] : loud[-1] + 1] * 0.8, gap]
    return np.concatenate(parts)


def halting() -> npt.NDArray[np.float32]:
    """The reading 1.5 s at a time, with half a second between: speech enough for a sample,
    but no 3 s stretch for a reference clip."""
    speech, step = reading(), RATE * 3 // 2
    pause = np.zeros(RATE // 2, dtype=np.float32)
    return np.concatenate(
        [np.concatenate([speech[i : i + step], pause]) for i in range(0, 24 * RATE, step)]
    )


def wav(samples: npt.NDArray[np.float32], rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def webm_opus(samples: npt.NDArray[np.float32]) -> bytes:
    """What a browser's MediaRecorder uploads."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000)
        stream.layout = "mono"  # type: ignore[union-attr]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):  # type: ignore[union-attr]
                out.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            out.mux(packet)
    return buffer.getvalue()


def room(samples: npt.NDArray[np.float32], noise: float = 0.001) -> npt.NDArray[np.float32]:
    """``samples`` with a quiet room's noise under them."""
    hiss = np.random.default_rng(1).normal(0, noise, len(samples)).astype(np.float32)
    return samples + hiss
