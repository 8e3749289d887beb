"""Rate limits at the HTTP edge: one token per request from the tenant's and the key's bucket."""

from __future__ import annotations

import uuid

from visavis.api.problems import HTTPProblem
from visavis.config import Settings
from visavis.ops.metrics import Metrics
from visavis.tenancy.ratelimit import Bucket, RateLimiter


def request_buckets(settings: Settings, *, tenant_id: uuid.UUID, key_prefix: str) -> list[Bucket]:
    """The buckets a tenant's request draws from (a rate of 0 turns that limit off)."""
    buckets = []
    if settings.rate_limit_tenant_per_s > 0:
        buckets.append(
            Bucket(
                f"tenant:{tenant_id}",
                settings.rate_limit_tenant_per_s,
                settings.rate_limit_tenant_burst,
            )
        )
    if settings.rate_limit_key_per_s > 0:
        buckets.append(
            Bucket(
                f"key:{key_prefix}", settings.rate_limit_key_per_s, settings.rate_limit_key_burst
            )
        )
    return buckets


async def enforce_rate_limits(
    limiter: RateLimiter,
    settings: Settings,
    *,
    tenant_id: uuid.UUID,
    key_prefix: str,
    metrics: Metrics | None = None,
) -> None:
    """Take a token, or refuse with 429 and ``Retry-After`` (counted in ``metrics``)."""
    buckets = request_buckets(settings, tenant_id=tenant_id, key_prefix=key_prefix)
    if not buckets:
        return
    decision = await limiter.acquire(buckets)
    if decision.allowed:
        return
    scope = "tenant" if (decision.bucket or "").startswith("tenant:") else "API key"
    if metrics is not None:
        metrics.quota_refused(kind="rate_limit_tenant" if scope == "tenant" else "rate_limit_key")
    raise HTTPProblem(
        429,
        f"too many requests for this {scope}: retry after {decision.retry_after_header} s",
        code="rate_limited",
        headers={"Retry-After": decision.retry_after_header},
        limit="tenant" if scope == "tenant" else "key",
    )
