"""How well a voice sample's noise floor is measured: known noise added to known speech.

Two readings: eSpeak NG reading twelve sentences without a breath between them (80 ms gaps,
none of the synthesizer's own silences), and the human reading that ships in the
``moonshine-voice`` wheel (``two_cities.wav``). White noise at −60 to −26 dBFS is added, and
``validate`` measures the floor; the hardly-pausing reading is also cut at many starting points
in a quiet room (−60 dBFS), as a recording starts wherever the person is.

Usage: ``python bench/sample_noise.py``. Prints JSON.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.voices.audio import RATE, hardly_pausing  # noqa: E402

from visavis.speech.decode import decode_audio  # noqa: E402
from visavis.voices.decoding import DecodedAudio  # noqa: E402
from visavis.voices.validation import validate  # noqa: E402

NOISE_DBFS = (-60.0, -50.0, -40.0, -34.0, -30.0, -26.0)


def _report(samples: np.ndarray) -> dict[str, object]:
    report = validate(DecodedAudio(samples.astype(np.float32), RATE, "pcm"))
    return {
        "noise_floor_dbfs": report.noise_floor_dbfs,
        "snr_db": report.snr_db,
        "problems": [p.code for p in report.problems],
    }


def added_noise(speech: np.ndarray) -> list[dict[str, object]]:
    rng = np.random.default_rng(5)
    rows = []
    for dbfs in NOISE_DBFS:
        noise = rng.normal(0, 10 ** (dbfs / 20), len(speech)).astype(np.float32)
        rows.append({"added_dbfs": dbfs} | _report(speech + noise))
    return rows


def starting_points(speech: np.ndarray, room_dbfs: float = -60.0) -> dict[str, object]:
    noise = np.random.default_rng(1).normal(0, 10 ** (room_dbfs / 20), 2 * len(speech))
    looped = np.tile(speech, 2) + noise.astype(np.float32)
    snrs = []
    for start_s in np.arange(0.0, len(speech) / RATE, 0.7):
        sample = looped[int(start_s * RATE) :][: 11 * RATE]
        snrs.append(_report(sample)["snr_db"])
    loud = speech[np.abs(speech) > 0]
    true_snr = 20 * math.log10(float(np.sqrt(np.mean(loud.astype(np.float64) ** 2)))) - room_dbfs
    return {
        "room_dbfs": room_dbfs,
        "starts": len(snrs),
        "sample_s": 11,
        "snr_db_min": min(snrs),
        "snr_db_max": max(snrs),
        "snr_db_of_the_mix_about": round(true_snr, 1),
    }


def main() -> None:
    reading = hardly_pausing()
    from moonshine_voice.utils import get_assets_path

    human = decode_audio(Path(get_assets_path()) / "two_cities.wav").astype(np.float32) / 32768
    print(
        json.dumps(
            {
                "hardly_pausing": {
                    "added_noise": added_noise(reading),
                    "starting_points": starting_points(reading),
                },
                "human_two_cities": {
                    "as_recorded": _report(human),
                    "added_noise": added_noise(human),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
