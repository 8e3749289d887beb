"""Writers for the track: Rhubarb TSV/JSON/XML/DAT, Oculus visemes, ARKit blendshape weights."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from visavis.speech.lipsync.rules import OCULUS_VISEMES, restrict_shape
from visavis.speech.lipsync.track import VisemeTrack

FORMATS = ("tsv", "json", "xml", "dat", "oculus", "arkit")

ARKIT_BLENDSHAPES = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "tongueOut",
)  # fmt: skip
# Weights per shape, in ARKIT_BLENDSHAPES order (only the non-zero ones listed).
_ARKIT_POSES: dict[str, dict[str, float]] = {
    "X": {},
    "A": {"mouthClose": 0.6, "mouthPressLeft": 0.5, "mouthPressRight": 0.5},
    "B": {"jawOpen": 0.1, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3,
          "mouthLowerDownLeft": 0.2, "mouthLowerDownRight": 0.2},
    "C": {"jawOpen": 0.35, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3,
          "mouthUpperUpLeft": 0.2, "mouthUpperUpRight": 0.2},
    "D": {"jawOpen": 0.7, "mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5,
          "mouthUpperUpLeft": 0.3, "mouthUpperUpRight": 0.3},
    "E": {"jawOpen": 0.3, "mouthFunnel": 0.5, "mouthPucker": 0.2},
    "F": {"jawOpen": 0.1, "mouthPucker": 0.8, "mouthFunnel": 0.3},
    "G": {"jawOpen": 0.05, "mouthRollLower": 0.6, "mouthUpperUpLeft": 0.3,
          "mouthUpperUpRight": 0.3},
    "H": {"jawOpen": 0.3, "tongueOut": 0.3, "mouthLowerDownLeft": 0.2,
          "mouthLowerDownRight": 0.2},
}  # fmt: skip
_CROSSFADE_S = 0.06


def _t(value: float) -> str:
    return f"{max(0.0, value):.2f}"


def _rounded(track: VisemeTrack) -> list[tuple[str, str, str]]:
    """Cues with 2-decimal times; cues that vanish at that precision are dropped."""
    rows: list[tuple[str, str, str]] = []
    for cue in track.cues:
        start, end = _t(cue.start), _t(cue.end)
        if start == end:
            continue
        if rows and rows[-1][1] != start:
            rows[-1] = (rows[-1][0], start, rows[-1][2])
        if rows and rows[-1][2] == cue.shape:
            rows[-1] = (rows[-1][0], end, cue.shape)
            continue
        rows.append((start, end, cue.shape))
    return rows


def to_rhubarb_json(track: VisemeTrack, sound_file: str = "") -> str:
    """Rhubarb's JSON layout; our extras live under ``metadata.visavis``."""
    extras = json.dumps(_extras(track))
    lines = [
        "{",
        '  "metadata": {',
        f'    "soundFile": {json.dumps(sound_file)},',
        f'    "duration": {_t(track.duration)},',
        f'    "visavis": {extras}',
        "  },",
        '  "mouthCues": [',
    ]
    rows = _rounded(track)
    for index, (start, end, shape) in enumerate(rows):
        comma = "," if index + 1 < len(rows) else ""
        lines.append(f'    {{ "start": {start}, "end": {end}, "value": "{shape}" }}{comma}')
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def to_tsv(track: VisemeTrack) -> str:
    """``start<TAB>shape`` per cue, then the end of the recording with X."""
    lines = [f"{start}\t{shape}" for start, _end, shape in _rounded(track)]
    lines.append(f"{_t(track.duration)}\t{_rest_shape(track)}")
    return "\n".join(lines) + "\n"


def to_xml(track: VisemeTrack, sound_file: str = "") -> str:
    """Rhubarb's ``rhubarbResult`` XML document."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<rhubarbResult>",
        "  <metadata>",
        f"    <soundFile>{escape(sound_file)}</soundFile>",
        f"    <duration>{_t(track.duration)}</duration>",
        f"    <visavis method={quoteattr(track.method)}"
        f" fallbackReason={quoteattr(track.fallback_reason or '')}>",
        *(
            f'      <fallbackSpan start="{_t(float(span["start"]))}" end="{_t(float(span["end"]))}"'
            f" reason={quoteattr(str(span['reason']))}/>"
            for span in track.metadata.get("fallback_spans") or ()
        ),
        "    </visavis>",
        "  </metadata>",
        "  <mouthCues>",
    ]
    for start, end, shape in _rounded(track):
        lines.append(f'    <mouthCue start="{start}" end="{end}">{shape}</mouthCue>')
    lines += ["  </mouthCues>", "</rhubarbResult>", ""]
    return "\n".join(lines)


def to_dat(track: VisemeTrack, fps: int = 24) -> str:
    """Moho switch data: ``MohoSwitch1``, ``frame shape`` lines (from 1), then the rest shape."""
    lines = ["MohoSwitch1"]
    last_frame, last_shape = 0, ""
    for cue in track.cues:
        frame = 1 + int(fps * cue.start)
        if frame <= last_frame:
            if last_shape != "A":
                # The cue before is shorter than a frame: this one takes its frame.
                lines[-1] = f"{last_frame} {cue.shape}"
                last_shape = cue.shape
                continue
            frame = last_frame + 1  # a closure keeps its frame, even when brief
        lines.append(f"{frame} {cue.shape}")
        last_frame, last_shape = frame, cue.shape
    end_frame = max(1 + int(fps * track.duration), last_frame + 1)
    lines.append(f"{end_frame} {_rest_shape(track)}")
    return "\n".join(lines) + "\n"


def _rest_shape(track: VisemeTrack) -> str:
    return restrict_shape("X", str(track.metadata.get("extended_shapes", "GHX")))


def to_oculus(track: VisemeTrack) -> str:
    """A JSON track of Oculus 15 visemes with start/end times in seconds."""
    cues: list[dict[str, Any]] = []
    for cue in track.cues:
        start, end = round(cue.start, 3), round(cue.end, 3)
        if cues and cues[-1]["viseme"] == cue.viseme:
            cues[-1]["end"] = end
        elif end > start:
            cues.append({"start": start, "end": end, "viseme": cue.viseme})
    document = {
        "metadata": {"duration": round(track.duration, 3), "visemes": list(OCULUS_VISEMES),
                     **_extras(track)},
        "visemeCues": cues,
    }  # fmt: skip
    return json.dumps(document, indent=1) + "\n"


def arkit_weights(track: VisemeTrack, fps: int = 60) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Blendshape weights per frame (frames × ARKIT_BLENDSHAPES), cross-faded between shapes."""
    if fps <= 0:
        raise ValueError("fps must be positive")
    frames = max(1, int(np.ceil(track.duration * fps)) + 1)
    fine_rate = 1000
    fine = np.zeros((int(np.ceil(track.duration * fine_rate)) + 1, len(ARKIT_BLENDSHAPES)))
    index = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}
    for cue in track.cues:
        lo, hi = int(round(cue.start * fine_rate)), int(round(cue.end * fine_rate))
        for name, weight in _ARKIT_POSES.get(cue.shape, {}).items():
            fine[lo:hi, index[name]] = weight
    width = max(1, int(_CROSSFADE_S * fine_rate))
    kernel = np.ones(width) / width
    # A centred moving average cross-fades each change over ~60 ms, half before it.
    smoothed = np.stack(
        [np.convolve(fine[:, k], kernel, mode="same") for k in range(fine.shape[1])], axis=1
    )
    positions = np.minimum((np.arange(frames) / fps * fine_rate).astype(int), len(fine) - 1)
    out: np.ndarray[Any, np.dtype[np.float32]] = smoothed[positions].astype(np.float32)
    # Closures are brief (~15 ms before a release); the fade would blur them away, so the
    # frame nearest each one shows the lips fully shut.
    closed = np.zeros(len(ARKIT_BLENDSHAPES), dtype=np.float32)
    for name, weight in _ARKIT_POSES["A"].items():
        closed[index[name]] = weight
    for cue in track.cues:
        if cue.shape == "A":
            out[min(frames - 1, int(round((cue.start + cue.end) / 2 * fps)))] = closed
    return out


def to_arkit(track: VisemeTrack, fps: int = 60) -> str:
    """ARKit-style weights as JSON: ``{"fps", "blendshapes", "frames": [[w, ...], ...]}``."""
    weights = arkit_weights(track, fps)
    document = {
        "fps": fps,
        "duration": round(track.duration, 3),
        "blendshapes": list(ARKIT_BLENDSHAPES),
        "frames": [[round(float(w), 3) for w in row] for row in weights],
        "metadata": _extras(track),
    }
    return json.dumps(document, separators=(",", ":")) + "\n"


def _extras(track: VisemeTrack) -> dict[str, Any]:
    extras: dict[str, Any] = {"method": track.method, "fallbackReason": track.fallback_reason}
    spans = track.metadata.get("fallback_spans")
    if spans:
        extras["fallbackSpans"] = [dict(span) for span in spans]
    return extras


MEDIA_TYPES = {
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "xml": "application/xml",
    "dat": "text/plain",
    "oculus": "application/json",
    "arkit": "application/json",
}


def render(
    track: VisemeTrack, fmt: str, *, sound_file: str = "", fps: int = 60, dat_fps: int = 24
) -> str:
    """The track in one of ``FORMATS`` (``fps`` for ARKit, ``dat_fps`` for Moho data)."""
    if fmt == "tsv":
        return to_tsv(track)
    if fmt == "json":
        return to_rhubarb_json(track, sound_file)
    if fmt == "xml":
        return to_xml(track, sound_file)
    if fmt == "dat":
        return to_dat(track, dat_fps)
    if fmt == "oculus":
        return to_oculus(track)
    if fmt == "arkit":
        return to_arkit(track, fps)
    raise ValueError(f"unknown lip-sync format {fmt!r}; use one of {', '.join(FORMATS)}")
