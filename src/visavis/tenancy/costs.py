"""Billing rules: what an avatar session costs, from how long it streamed or was booked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

BillingKind = Literal["per_second_after_minimum", "prepaid_duration", "free"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingRule:
    """How a provider charges; prices in USD per minute, results in micro-USD.

    - ``per_second_after_minimum`` (HeyGen): a minimum (30 s), then each started second.
    - ``prepaid_duration`` (Akool): the requested duration, charged whole at creation.
    - ``free`` (the local avatar).
    """

    kind: BillingKind
    price_per_minute_usd: float = 0.0
    minimum_s: float = 0.0

    def cost_microusd(self, *, streamed_s: float, requested_s: float | None = None) -> int:
        """The cost of one session."""
        if self.kind == "free" or self.price_per_minute_usd <= 0:
            return 0
        if self.kind == "prepaid_duration":
            billed = requested_s if requested_s is not None else streamed_s
        else:
            billed = max(self.minimum_s, math.ceil(max(0.0, streamed_s)))
        return round(billed * self.price_per_minute_usd * 1_000_000 / 60)


FREE = BillingRule(kind="free")
