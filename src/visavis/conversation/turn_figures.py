"""The figures of one finished turn, as its row records them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TurnFigures:
    """What one finished turn did, as recorded in its row."""

    turn_id: int
    trigger: str
    user_text: str | None
    started_ms: int
    first_delta_ms: int | None
    first_audio_ms: int | None
    audio_ms: int
    synthesis_s: float
    sentences: int
    outcome: str
    error_code: str | None

    @property
    def synthesis_rtf(self) -> float | None:
        """Seconds of audio produced per second of synthesis."""
        if self.synthesis_s <= 0 or self.audio_ms <= 0:
            return None
        return round(self.audio_ms / 1000 / self.synthesis_s, 2)
