"""Fit the lip-sync acoustic model on the ``train`` split of the evaluation set.

Needs the ``bench`` extra (``pip install -e '.[bench]'``: the CMU pronouncing dictionary).
Usage: ``python bench/train_lipsync_model.py [--voices a,b] [--out PATH]`` (writes
``src/visavis/speech/lipsync/acoustic_model.npz``). Fitted on ``FIT_VOICES`` of the
evaluation set unless ``--voices`` says otherwise; the other voices (``unseen`` and
``held_out``) and every voice's test sentences are never used.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speech_evalset as ev  # noqa: E402
from visavis.speech.lipsync.acoustic import (  # noqa: E402
    CLOSURE,
    MODEL_FILE,
    SHORT_PAUSE,
    STOPS,
    AcousticModel,
    state_names,
)
from visavis.speech.lipsync.analyzer import unit_names  # noqa: E402
from visavis.speech.lipsync.features import CEPSTRA, FRAME_SECONDS, features  # noqa: E402
from visavis.speech.phones import SIL  # noqa: E402

OUT = ev.ROOT / "src" / "visavis" / "speech" / "lipsync" / MODEL_FILE
VAR_FLOOR = 0.02


def frame_states(phones: list, frames: int, feats: np.ndarray) -> list[str | None]:
    """The state name of each frame according to the true phones."""
    times = np.arange(frames) * FRAME_SECONDS
    starts = np.array([p.start for p in phones])
    owner = np.clip(np.searchsorted(starts, times, "right") - 1, 0, len(phones) - 1)
    labels: list[str | None] = []
    for t in range(frames):
        phone = phones[owner[t]]
        if phone.phone == "CL":
            labels.append(CLOSURE)
            continue
        position = (times[t] - phone.start) / max(1e-6, phone.end - phone.start)
        labels.append(f"{phone.phone}_{min(2, int(position * 3))}")
    energy = feats[:, CEPSTRA - 1] * 10.0  # dB relative to the loud part
    for index, phone in enumerate(phones):
        if phone.phone not in STOPS or index == 0:
            continue
        t = int(round(phone.start / FRAME_SECONDS)) - 1
        lowest = int(round((phone.start - 0.1) / FRAME_SECONDS))
        while t >= max(0, lowest) and energy[t] < -30.0 and t < frames:
            labels[t] = CLOSURE
            t -= 1
    return labels


def fit_gmm(x: np.ndarray, mixtures: int, rng: np.random.Generator) -> tuple:
    k = max(1, min(mixtures, len(x) // 30))
    centers = x[rng.choice(len(x), k, replace=False)]
    for _ in range(8):
        assign = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
        for j in range(k):
            if np.any(assign == j):
                centers[j] = x[assign == j].mean(0)
    means = np.zeros((mixtures, x.shape[1]), np.float32)
    variances = np.ones((mixtures, x.shape[1]), np.float32)
    weights = np.full(mixtures, 1e-6, np.float32)
    global_var = np.maximum(x.var(0), VAR_FLOOR)
    for j in range(mixtures):
        members = x[assign == j] if j < k else x[:0]
        if len(members) >= 5:
            means[j] = members.mean(0)
            variances[j] = np.maximum(members.var(0), VAR_FLOOR)
            weights[j] = len(members) / len(x)
        else:
            means[j] = x.mean(0)
            variances[j] = global_var
    # A few EM steps refine the k-means start.
    for _ in range(4):
        ll = (
            -0.5 * (((x[:, None, :] - means[None]) ** 2) / variances[None]).sum(-1)
            - 0.5 * np.log(variances).sum(-1)[None]
            + np.log(weights)[None]
        )
        ll -= ll.max(1, keepdims=True)
        resp = np.exp(ll)
        resp /= resp.sum(1, keepdims=True)
        total = resp.sum(0) + 1e-6
        weights = np.maximum(total / len(x), 1e-6).astype(np.float32)
        means = ((resp.T @ x) / total[:, None]).astype(np.float32)
        second = (resp.T @ (x**2)) / total[:, None]
        variances = np.maximum(second - means**2, VAR_FLOOR).astype(np.float32)
    return means, 1.0 / variances, np.log(weights / weights.sum())


def phone_bigram(names: list[str]) -> np.ndarray:
    """Log P(next phone | phone) over loop units, from the CMU dictionary's pronunciations.

    Words are equally likely; between words a pause comes with probability 0.15.
    """
    import pocketsphinx

    units = unit_names(tuple(names))
    index = {u: i for i, u in enumerate(units)}
    size = len(units)
    within = np.full((size, size), 1e-3)
    ends = np.full(size, 1e-3)
    totals = np.full(size, 1e-3)
    initial = np.full(size, 1e-3)
    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    if not path.exists():
        path = Path(pocketsphinx.get_model_path()) / "cmudict-en-us.dict"
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        phones = [p.rstrip("012") for p in line.split()[1:]]
        phones = [p for p in phones if p in index]
        if not phones:
            continue
        initial[index[phones[0]]] += 1
        for a, b in zip(phones, phones[1:], strict=False):
            within[index[a], index[b]] += 1
        for p in phones:
            totals[index[p]] += 1
        ends[index[phones[-1]]] += 1
    initial /= initial.sum()
    within /= within.sum(axis=1, keepdims=True)
    p_end = np.clip(ends / totals, 0.0, 1.0)
    silence = np.zeros(size)
    silence[index[SIL]] = 1.0
    between = 0.85 * initial + 0.15 * silence
    probs = (1 - p_end)[:, None] * within + p_end[:, None] * between[None, :]
    probs[index[SIL]] = 0.99 * initial + 0.01 * silence
    # Reduced vowels: the dictionary writes AH for both; AX shares AH's statistics.
    probs[:, index["AX"]] = probs[:, index["AH"]]
    probs[index["AX"]] = probs[index["AH"]]
    stops = [index[p] for p in ("P", "B", "T", "D", "K", "G")]
    closure = index[CLOSURE]
    probs[:, closure] = probs[:, stops].sum(axis=1)
    probs[closure] = 1e-4
    probs[closure, stops] = initial[stops] / initial[stops].sum()
    return np.log(np.maximum(probs, 1e-4)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mixtures", type=int, default=12)
    parser.add_argument("--voices", default=",".join(ev.FIT_VOICES), help="voices to fit on")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the model")
    args = parser.parse_args()
    voices = [v for v in args.voices.split(",") if v]
    if set(voices) & set(ev.HELD_OUT_VOICES):
        raise SystemExit("held-out voices are for the final figures only, never for fitting")
    items = ev.load_evalset(voices, split="train")
    rng = np.random.default_rng(7)
    pools: dict[str, list[np.ndarray]] = defaultdict(list)
    for item in items:
        level = float(np.percentile(np.abs(item.pcm), 99)) + 1.0
        for snr_db, warp in ((None, 1.0), (rng.uniform(15, 50), rng.uniform(0.86, 1.14))):
            pcm = item.pcm.astype(np.float32)
            if snr_db is not None:
                # A room: noise some 15-50 dB under the speech.
                pcm = pcm + rng.normal(0, level * 10 ** (-snr_db / 20), len(pcm))
            pcm = np.clip(pcm, -32768, 32767).astype(np.int16)
            feats = features(pcm, item.sample_rate, warp=warp)
            labels = frame_states(item.phones, len(feats), feats)
            for row, label in zip(feats, labels, strict=True):
                if label is not None:
                    pools[label].append(row)
    names = state_names()
    dims = len(next(iter(pools.values()))[0])
    means = np.zeros((len(names), args.mixtures, dims), np.float32)
    inv_vars = np.ones_like(means)
    log_weights = np.zeros((len(names), args.mixtures), np.float32)
    silence = np.concatenate([np.array(pools[f"{SIL}_{i}"]) for i in range(3)])
    for index, name in enumerate(names):
        rows = np.array(pools[name]) if name != SHORT_PAUSE else silence
        if len(rows) < 10:
            base = {"ZH": "SH", "OY": "OW", "UH": "UW"}.get(name.rsplit("_", 1)[0], "AX")
            rows = np.concatenate(
                [np.array(pools[f"{base}_{i}"]) for i in range(3) if pools[f"{base}_{i}"]]
            )
            print(f"{name}: few frames, pooled {len(rows)}", file=sys.stderr)
        m, iv, lw = fit_gmm(rows.astype(np.float32), args.mixtures, rng)
        means[index], inv_vars[index], log_weights[index] = m, iv, lw
    model = AcousticModel(tuple(names), means, inv_vars, log_weights, phone_bigram(names))
    data = model.to_bytes(trained_on=tuple(voices))
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {len(names)} states, {len(data)} bytes on {', '.join(voices)}")


if __name__ == "__main__":
    main()
