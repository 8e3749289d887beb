"""Billing rules: what an avatar session costs, from how long it streamed or was booked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

BillingKind = Literal[
    "per_second_after_minimum", "prepaid_duration", "free", "per_started_minute", "per_second_used"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingRule:
    """How a provider charges; prices in USD per minute, results in micro-USD.

    - ``per_second_after_minimum``: a minimum, then each started second.
    - ``prepaid_duration``: the requested duration, charged whole at creation.
    - ``per_started_minute`` (LiveAvatar): each started minute, at least ``minimum_s``
      (the minute escrowed at start).
    - ``per_second_used`` (Akool, Simli): each started second really used; what was
      pre-charged beyond it is refunded by the provider.
    - ``free`` (the local avatar).
    """

    kind: BillingKind
    price_per_minute_usd: float = 0.0
    minimum_s: float = 0.0

    def cost_microusd(self, *, streamed_s: float, requested_s: float | None = None) -> int:
        """The cost of one session."""
        if self.kind == "free" or self.price_per_minute_usd <= 0:
            return 0
        streamed = max(0.0, streamed_s)
        if self.kind == "prepaid_duration":
            billed = requested_s if requested_s is not None else streamed_s
        elif self.kind == "per_started_minute":
            billed = max(self.minimum_s, 60.0 * math.ceil(streamed / 60.0))
        elif self.kind == "per_second_used":
            billed = max(self.minimum_s, float(math.ceil(streamed)))
        else:
            billed = max(self.minimum_s, math.ceil(streamed))
        return round(billed * self.price_per_minute_usd * 1_000_000 / 60)


FREE = BillingRule(kind="free")
