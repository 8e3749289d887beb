"""The browser's reports of the provider media's quality, as ``avatar_quality_changed`` events.

The page says when the quality of the provider's media changes (LiveKit's connection quality,
or its own count of dropped video frames); each change from the quality last recorded becomes
an analytics event with ``from``, ``to`` and the ``reason`` the page went by. A link that flaps
must not flood the tenant's event store and webhooks: a few events may come at once, then one per
interval; changes in between are folded into the next event (its ``changes`` says how many),
which a timer records once the interval has passed if the quality is still not the one last
recorded. A first report of a good link is the baseline, not a change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

#: Events a conversation may record at once, then one per ``INTERVAL_S``.
BURST = 3
INTERVAL_S = 60.0
_BASELINE = ("excellent", "good")

Record = Callable[[dict[str, Any]], None]


class QualityEvents:
    """One conversation's quality reports, rate-limited into events handed to ``record``."""

    def __init__(
        self,
        record: Record,
        *,
        now: Callable[[], float],
        burst: int = BURST,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.record = record
        self.now = now
        self.burst = burst
        self.interval_s = interval_s
        #: The quality of the last event (or the baseline); None before the first report.
        self.recorded: str | None = None
        self.current: str | None = None
        self.reason = ""
        self.provider = ""
        self.changes = 0
        self._tokens = float(burst)
        self._refilled: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def report(self, quality: str, reason: str, *, provider: str) -> None:
        """The page says the media's quality is now ``quality`` (``reason``: what it went by)."""
        if quality == self.current:
            return
        self.current, self.reason, self.provider = quality, reason, provider
        if self.recorded is None and quality in _BASELINE:
            self.recorded = quality
            return
        self.changes += 1
        if self._timer is None:  # else the pending timer records the latest quality
            self._flush()

    def _on_timer(self) -> None:
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        if self.current is None or self.current == self.recorded:
            return
        now = self.now()
        elapsed = 0.0 if self._refilled is None else now - self._refilled
        self._tokens = min(self.burst, self._tokens + elapsed / self.interval_s)
        self._refilled = now
        if self._tokens < 1:
            wait_s = (1 - self._tokens) * self.interval_s
            self._timer = asyncio.get_running_loop().call_later(wait_s, self._on_timer)
            return
        self._tokens -= 1
        event = {
            "provider": self.provider,
            "from": self.recorded or "unknown",
            "to": self.current,
            "reason": self.reason,
            "changes": self.changes,
        }
        self.recorded, self.changes = self.current, 0
        self.record(event)

    def close(self) -> None:
        """Drop a pending event (the conversation is going away); idempotent."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
