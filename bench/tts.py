"""TTS benchmark: load time, first-audio latency, speed (× real time), lip-sync overhead, and
the speed one core could reach at best for the Piper voice (its arithmetic against a matrix
product's rate).

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
from visavis.speech.voice import FIRST_CHUNK_S

TWELVE_WORDS = "I think we should meet again next week to talk about the plan."
PARAGRAPH = (
    "The local avatar needs a voice and a mouth that moves with it. "
    "It runs without a network and without a graphics card. "
    "Every sentence is spoken as soon as the agent has written it, "
    "while the next one is still on its way. "
    "Long answers are streamed sentence by sentence, so memory stays small. "
    "The mouth follows the exact timing of every sound the voice makes."
)


async def first_audio(
    engine: TTSEngine, text: str, sample_rate: int | None, first_chunk_s: float | None
) -> tuple[float, float]:
    """(wall, CPU) seconds until the first chunk arrives."""
    started, cpu = time.perf_counter(), time.process_time()
    chunks = engine.synthesize(text, sample_rate=sample_rate, first_chunk_s=first_chunk_s)
    async for _chunk in chunks:
        await chunks.aclose()
        return time.perf_counter() - started, time.process_time() - cpu
    raise RuntimeError("no audio")


async def latency(
    engine: TTSEngine, runs: int, sample_rate: int | None, first_chunk_s: float | None
) -> dict[str, float]:
    """First audio of the twelve-word sentence: median and least of ``runs``."""
    await first_audio(engine, "Warm up.", sample_rate, first_chunk_s)
    runs_ = [
        await first_audio(engine, TWELVE_WORDS, sample_rate, first_chunk_s) for _ in range(runs)
    ]
    return {
        "first_audio_ms_median": round(statistics.median(w for w, _ in runs_) * 1000, 1),
        "first_audio_ms_min": round(min(w for w, _ in runs_) * 1000, 1),
        "first_audio_cpu_ms_median": round(statistics.median(c for _, c in runs_) * 1000, 1),
    }


async def measure(
    engine: TTSEngine, runs: int, sample_rate: int | None, first_chunk_s: float | None = None
) -> dict[str, float]:
    """Latency, speed and the cost of lip-sync from exact phones, against the same run."""
    report = await latency(engine, runs, sample_rate, first_chunk_s)
    audio_s = synth_s = synth_cpu = lipsync_cpu = 0.0
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        speech = engine.synthesize(PARAGRAPH, sample_rate=sample_rate, first_chunk_s=first_chunk_s)
        chunks = [chunk async for chunk in speech]
        synth_s += time.perf_counter() - started
        synth_cpu += time.process_time() - cpu
        audio_s += sum(c.duration for c in chunks)
        cpu = time.process_time()
        for _ in range(20):  # repeated: one pass is too short for the clock
            for chunk in chunks:
                animate(chunk.pcm, chunk.sample_rate, phones=chunk.phones)
        lipsync_cpu += (time.process_time() - cpu) / 20
    return report | {
        "x_realtime": round(audio_s / synth_s, 1),
        "x_realtime_cpu": round(audio_s / synth_cpu, 1),
        "lipsync_overhead_percent_cpu": round(100 * lipsync_cpu / synth_cpu, 2),
    }


def graph_speed(runs: int, threads: int) -> dict[str, float]:
    """Piper's model alone: the unedited graph at once vs ours (front, then decoded in runs).

    Interleaved in one run, × real time on CPU time.
    """
    import onnx
    import onnxruntime

    from visavis.speech.tts.piper import piper_inputs

    paths = PiperVoicePaths.default()
    loaded = load_piper_voice(paths, threads=threads)
    voice, network = loaded.voice, loaded.network
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    plain = onnxruntime.InferenceSession(
        onnx.load(str(paths.model)).SerializeToString(),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )
    feeds = [
        piper_inputs(voice, phonemes, float(voice.config.length_scale))
        for phonemes in voice.phonemize(PARAGRAPH)
    ]

    def unedited(feed: dict[str, object]) -> int:
        return int(plain.run(None, feed)[0].size)

    def ours(feed: dict[str, object]) -> int:
        latents = network.front(feed)
        return len(network.decode(latents, 0, latents.frames))

    speeds: dict[str, list[float]] = {"plain_graph": [], "ours": []}
    for _ in range(runs):
        for name, run in (("plain_graph", unedited), ("ours", ours)):
            cpu = time.process_time()
            samples = sum(run(feed) for feed in feeds)
            speeds[name].append(samples / loaded.sample_rate / (time.process_time() - cpu))
    return {f"{name}_x_realtime_cpu": round(statistics.median(v), 1) for name, v in speeds.items()}


def compute_ceiling(threads: int) -> dict[str, float]:
    """How fast one core could run the voice at best: its convolutions' arithmetic per second
    of audio against onnxruntime's own single-precision matrix product on this core.
    """
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    from visavis.speech.tts.piper import piper_inputs

    size = 1024
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size]),
        ],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])],
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    gemm = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    operands = {k: np.random.default_rng(0).random((size, size), np.float32) for k in "ab"}
    gemm.run(None, operands)
    best = 0.0
    for _ in range(5):
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < 0.4:
            gemm.run(None, operands)
            count += 1
        best = max(best, 2 * size**3 * count / (time.perf_counter() - started))

    paths = PiperVoicePaths.default()
    loaded = load_piper_voice(paths, threads=threads)
    voice = loaded.voice
    voice_model = onnx.load(str(paths.model), load_external_data=False)
    weights = {init.name: list(init.dims) for init in voice_model.graph.initializer}
    flops = audio_s = 0.0
    for phonemes in voice.phonemize(PARAGRAPH):
        feed = piper_inputs(voice, phonemes, float(voice.config.length_scale))
        latents = loaded.network.front(feed)
        ids, frames = feed["input"].shape[1], latents.frames
        audio_s += frames * loaded.network.hop_length / loaded.sample_rate
        scale = 1
        for node in voice_model.graph.node:
            shape = weights.get(node.input[1]) if len(node.input) > 1 else None
            if node.op_type not in ("Conv", "ConvTranspose") or not shape:
                continue
            stride = next((a.ints[-1] for a in node.attribute if a.name == "strides"), 1)
            per_step = 2 * shape[0] * shape[1] * shape[-1]  # multiply-adds per input/output step
            if node.name.startswith(("/enc_p/", "/dp/")):
                flops += per_step * ids
            elif node.op_type == "ConvTranspose":
                flops += per_step * frames * scale  # per input step
                scale *= stride
            else:
                flops += per_step * frames * scale
    per_second = flops / audio_s
    return {
        "matmul_gflops_one_core": round(best / 1e9, 1),
        "model_conv_gflop_per_audio_second": round(per_second / 1e9, 2),
        "ceiling_x_realtime": round(best / per_second, 1),
    }


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
    report["piper"] = await measure(piper, args.runs, rate, FIRST_CHUNK_S)
    report["piper_first_words_not_streamed"] = await latency(piper, args.runs, rate, None)
    report["piper_model_only"] = graph_speed(args.runs, threads)
    report["piper_ceiling"] = compute_ceiling(threads)
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
