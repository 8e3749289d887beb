"""The output model of lip-sync: a track of mouth cues covering the whole audio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from visavis.speech.lipsync.rules import restrict_shape


class MouthCue(NamedTuple):
    """One mouth shape (Rhubarb A–H/X) and its Oculus viseme from ``start`` to ``end`` (s)."""

    start: float
    end: float
    shape: str
    viseme: str

    def to_compact(self, offset: float = 0.0) -> dict[str, Any]:
        """Browser form: ``{"t": start, "d": length, "s": shape, "v": viseme}``."""
        return {
            "t": round(self.start + offset, 3),
            "d": round(self.end - self.start, 3),
            "s": self.shape,
            "v": self.viseme,
        }


@dataclass(frozen=True)
class VisemeTrack:
    """Contiguous mouth cues from 0 to ``duration`` seconds, and how they were made.

    ``metadata`` holds at least ``method`` (``phones``, ``aligned``, ``audio``) and
    ``fallback_reason`` (None unless the text could not be used).
    """

    cues: tuple[MouthCue, ...]
    duration: float
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def method(self) -> str:
        """How the cues were made: ``phones``, ``aligned`` or ``audio``."""
        return str(self.metadata.get("method", "unknown"))

    @property
    def fallback_reason(self) -> str | None:
        """Why the text was not used, when it was given but did not match the audio."""
        reason = self.metadata.get("fallback_reason")
        return None if reason is None else str(reason)

    def shape_at(self, time: float) -> str:
        """The shape shown at ``time`` seconds (X outside the track)."""
        for cue in self.cues:
            if cue.start <= time < cue.end:
                return cue.shape
        return "X"

    def with_shapes(self, extended: str) -> VisemeTrack:
        """The same track using only the basic shapes plus ``extended`` (a subset of GHX)."""
        metadata = {**self.metadata, "extended_shapes": extended.upper()}
        return VisemeTrack(restrict_cues(self.cues, extended), self.duration, metadata)

    def to_compact(self, offset: float = 0.0) -> list[dict[str, Any]]:
        """Cues as small dicts for the live pipeline (times shifted by ``offset``)."""
        return [cue.to_compact(offset) for cue in self.cues]


def restrict_cues(cues: Sequence[MouthCue], extended: str) -> tuple[MouthCue, ...]:
    """Map shapes outside ``extended`` to their Rhubarb substitutes, joining equal neighbours."""
    out: list[MouthCue] = []
    for cue in cues:
        shape = restrict_shape(cue.shape, extended.upper())
        if out and out[-1].shape == shape:
            out[-1] = MouthCue(out[-1].start, cue.end, shape, out[-1].viseme)
        else:
            out.append(MouthCue(cue.start, cue.end, shape, cue.viseme))
    return tuple(out)
