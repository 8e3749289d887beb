"""TTS benchmark: load time, first-audio latency, speed (× real time) and lip-sync overhead.

Pinned to one CPU core by default (``--cores 2`` to lift it); audio at 24 kHz, the live
pipeline's default rate (``--sample-rate 0``: each voice's own). Prints JSON.
Usage: ``python bench/tts.py [--runs 5] [--cores 1] [--sample-rate 24000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from visavis.speech.lipsync import animate
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.espeak import EspeakEngine
from visavis.speech.tts.piper import PiperEngine, PiperVoicePaths, load_piper_voice

TWELVE_WORDS = "I think we should meet again next week to talk about the plan."
PARAGRAPH = (
    "The local avatar needs a voice and a mouth that moves with it. "
    "It runs without a network and without a graphics card. "
    "Every sentence is spoken as soon as the agent has written it, "
    "while the next one is still on its way. "
    "Long answers are streamed sentence by sentence, so memory stays small. "
    "The mouth follows the exact timing of every sound the voice makes."
)


async def first_audio(engine: TTSEngine, text: str, sample_rate: int | None) -> tuple[float, float]:
    """(wall, CPU) seconds until the first chunk arrives."""
    started, cpu = time.perf_counter(), time.process_time()
    async for _chunk in engine.synthesize(text, sample_rate=sample_rate):
        return time.perf_counter() - started, time.process_time() - cpu
    raise RuntimeError("no audio")


async def measure(engine: TTSEngine, runs: int, sample_rate: int | None) -> dict[str, float]:
    """Latency, speed and the cost of lip-sync from exact phones, against the same run."""
    await first_audio(engine, "Warm up.", sample_rate)
    latencies = [await first_audio(engine, TWELVE_WORDS, sample_rate) for _ in range(runs)]
    audio_s = synth_s = synth_cpu = lipsync_cpu = 0.0
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        chunks = [chunk async for chunk in engine.synthesize(PARAGRAPH, sample_rate=sample_rate)]
        synth_s += time.perf_counter() - started
        synth_cpu += time.process_time() - cpu
        audio_s += sum(c.duration for c in chunks)
        cpu = time.process_time()
        for _ in range(20):  # repeated: one pass is too short for the clock
            for chunk in chunks:
                animate(chunk.pcm, chunk.sample_rate, phones=chunk.phones)
        lipsync_cpu += (time.process_time() - cpu) / 20
    return {
        "first_audio_ms_median": round(statistics.median(w for w, _ in latencies) * 1000, 1),
        "first_audio_ms_min": round(min(w for w, _ in latencies) * 1000, 1),
        "first_audio_cpu_ms_median": round(statistics.median(c for _, c in latencies) * 1000, 1),
        "x_realtime": round(audio_s / synth_s, 1),
        "x_realtime_cpu": round(audio_s / synth_cpu, 1),
        "lipsync_overhead_percent_cpu": round(100 * lipsync_cpu / synth_cpu, 2),
    }


def graph_speed(runs: int, threads: int) -> dict[str, float]:
    """Piper's model alone, unedited vs with the 2-D decoder, interleaved in one run (× RT)."""
    import numpy as np
    import onnx
    import onnxruntime

    from visavis.speech.tts.piper_graph import expose_durations

    paths = PiperVoicePaths.default()
    voice = load_piper_voice(paths, threads=threads)
    plain = onnx.load(str(paths.model))
    expose_durations(plain)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    sessions = {
        "plain_graph": onnxruntime.InferenceSession(
            plain.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        ),
        "edited_graph": voice.session,
    }
    config = voice.config
    scales = np.array([config.noise_scale, config.length_scale, config.noise_w_scale], np.float32)
    feeds = []
    for phonemes in voice.phonemize(PARAGRAPH):
        ids = voice.phonemes_to_ids(phonemes)
        feeds.append(
            {
                "input": np.array([ids], dtype=np.int64),
                "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": scales,
            }
        )
    speeds: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(runs):
        for name, session in sessions.items():
            cpu, samples = time.process_time(), 0
            for feed in feeds:
                samples += session.run(None, feed)[0].size
            speeds[name].append(samples / config.sample_rate / (time.process_time() - cpu))
    return {f"{name}_x_realtime_cpu": round(statistics.median(v), 1) for name, v in speeds.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument(
        "--sample-rate", type=int, default=24000, help="output rate (24000: the live default)"
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))[: args.cores]
    os.sched_setaffinity(0, cpus)
    rate = args.sample_rate or None
    report: dict[str, object] = {
        "cores": len(cpus),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "sample_rate": rate or "native",
        "twelve_word_sentence": TWELVE_WORDS,
    }
    started = time.perf_counter()
    threads = 1 if args.cores == 1 else 0
    piper = PiperEngine(threads=threads)
    piper.load()
    report["piper_load_s"] = round(time.perf_counter() - started, 2)
    report["piper"] = await measure(piper, args.runs, rate)
    report["piper_model_only"] = graph_speed(args.runs, threads)
    whole = PiperEngine(first_chunk_words=None, threads=threads)
    report["piper_whole_sentences"] = await measure(whole, max(1, args.runs // 2), rate)
    espeak = EspeakEngine()
    report["espeak"] = await measure(espeak, args.runs, rate)
    if rate is not None:
        # The same at eSpeak's own rate: no resampling in the synthesis time.
        report["espeak_native_rate"] = await measure(espeak, args.runs, None)
    report["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
