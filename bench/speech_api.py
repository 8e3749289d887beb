"""The speech services API streaming: how soon the first audio and the first words arrive.

Starts ``visavis serve`` on its defaults and, in one run, asks ``POST /v1/audio/speech`` for a
paragraph of ``--sentences`` sentences as WAV (whole), as PCM (streamed as it is synthesized)
and as PCM events (``stream_format: "sse"``); and ``POST /v1/audio/transcriptions`` for a
recording of the same paragraph with a pause between its sentences, whole (json) and with
``stream=true``. Each sentence is new to the server on each run (the synthesis cache would
answer a repeated one at once). Reports the time to the first audio byte or first text, and
to the end, in ms (medians over ``--runs``). Prints JSON.
Usage: ``python bench/speech_api.py [--runs 5] [--sentences 8]``
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import wave
from collections.abc import Callable, Iterator

import httpx
import numpy as np

from abuse_live import make_tenant
from served import served_visavis

SUBJECTS = ["The team", "Our manager", "My colleague", "The new hire", "A customer", "The lead"]
VERBS = ["reviewed", "rebuilt", "tested", "shipped", "planned", "documented", "measured"]
OBJECTS = [
    "the billing service",
    "the search page",
    "the nightly import",
    "the mobile release",
    "the data pipeline",
    "the onboarding guide",
]
WHEN = ["last week", "in March", "before the launch", "on Friday", "during the audit"]


def paragraph(seed: int, sentences: int) -> str:
    """Sentences the server has not said before in this run (the cache would answer them)."""
    rng = np.random.default_rng(seed)
    said = [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}, "
        f"and it took {int(rng.integers(2, 30))} days."
        for _ in range(sentences)
    ]
    return " ".join(said)


def timed(
    started: float, chunks: Iterator[bytes], first: Callable[[bytes], bool]
) -> tuple[float, float]:
    """(ms from ``started`` to the first chunk for which ``first`` holds, ms to the end)."""
    first_ms = None
    for chunk in chunks:
        if first_ms is None and first(chunk):
            first_ms = (time.perf_counter() - started) * 1000
    end_ms = (time.perf_counter() - started) * 1000
    return (first_ms if first_ms is not None else end_ms), end_ms


def speech(http: httpx.Client, text: str, **fields: str) -> tuple[float, float]:
    body = {"model": "tts-1", "voice": "alloy", "input": text, **fields}
    started = time.perf_counter()
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        return timed(started, response.iter_raw(), lambda chunk: bool(chunk))


def transcription(http: httpx.Client, wav: bytes, **fields: str) -> tuple[float, float]:
    data = {"model": "whisper-1", **fields}
    files = {"file": ("paragraph.wav", wav, "audio/wav")}
    started = time.perf_counter()
    with http.stream("POST", "/v1/audio/transcriptions", data=data, files=files) as response:
        response.raise_for_status()
        return timed(
            started, response.iter_raw(), lambda chunk: b'"text"' in chunk or b"delta" in chunk
        )


def recording(http: httpx.Client, text: str) -> bytes:
    """``text`` spoken by the server, a second of silence after each sentence, as 24 kHz WAV."""
    parts = []
    for sentence in text.split(". "):
        pcm = http.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "voice": "alloy", "input": sentence, "response_format": "pcm"},
        ).content
        parts += [np.frombuffer(pcm, "<i2"), np.zeros(24000, np.int16)]
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(np.concatenate(parts).tobytes())
    return out.getvalue()


def summary(pairs: list[tuple[float, float]]) -> dict[str, float]:
    return {
        "first_ms": round(statistics.median(p[0] for p in pairs), 1),
        "end_ms": round(statistics.median(p[1] for p in pairs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=8)
    args = parser.parse_args()
    found: dict[str, list[tuple[float, float]]] = {
        name: [] for name in ("wav", "pcm", "pcm_sse", "transcribe_json", "transcribe_stream")
    }
    audio_s = []
    with served_visavis() as served:
        key = make_tenant(served.workdir, dict(served.env or {}))
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=served.base_url, headers=headers, timeout=300) as http:
            speech(http, "Warm up.", response_format="pcm")
            transcription(http, recording(http, "Warm up."))  # the files' model loads at first
            for run in range(args.runs):
                seed = 1000 * run
                found["wav"].append(
                    speech(http, paragraph(seed, args.sentences), response_format="wav")
                )
                found["pcm"].append(
                    speech(http, paragraph(seed + 1, args.sentences), response_format="pcm")
                )
                found["pcm_sse"].append(
                    speech(
                        http,
                        paragraph(seed + 2, args.sentences),
                        response_format="pcm",
                        stream_format="sse",
                    )
                )
                wav = recording(http, paragraph(seed + 3, args.sentences))
                with wave.open(io.BytesIO(wav)) as opened:
                    audio_s.append(opened.getnframes() / opened.getframerate())
                found["transcribe_json"].append(transcription(http, wav))
                found["transcribe_stream"].append(transcription(http, wav, stream="true"))
    result = {name: summary(pairs) for name, pairs in found.items()}
    print(
        json.dumps(
            {
                "runs": args.runs,
                "sentences": args.sentences,
                "recording_s": round(statistics.median(audio_s), 1),
                **result,
                "first_audio_ratio_pcm_to_wav": round(
                    result["pcm"]["first_ms"] / result["wav"]["first_ms"], 3
                ),
                "first_text_ratio_stream_to_json": round(
                    result["transcribe_stream"]["first_ms"] / result["transcribe_json"]["first_ms"],
                    3,
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
