"""Whether a webhook endpoint keeps failing: counted per instance, written once per interval.

Every attempt's outcome is noted in memory; :meth:`EndpointHealth.flush` adds each endpoint's
streak to its row in one conditional ``UPDATE`` (so many attempts to one endpoint don't all
queue on its row lock), and disables the endpoint once it has failed
``disable_after_failures`` times in a row for at least ``disable_after_s``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.db.models import WebhookDelivery, WebhookEndpoint
from visavis.ops.events import record_event

logger = logging.getLogger(__name__)


@dataclass
class _Streak:
    tenant_id: uuid.UUID
    succeeded: bool = False  # a success since the last flush: the row's streak restarts
    failures: int = 0  # failures since that success (or since the last flush)
    first_failure_at: datetime | None = None
    last_error: str | None = None


class EndpointHealth:
    """Failure streaks of the endpoints this instance sent to since the last flush."""

    def __init__(self, *, disable_after_failures: int, disable_after_s: float) -> None:
        self.disable_after_failures = disable_after_failures
        self.disable_after_s = disable_after_s
        self._streaks: dict[uuid.UUID, _Streak] = {}

    def note(
        self,
        *,
        endpoint_id: uuid.UUID,
        tenant_id: uuid.UUID,
        at: datetime,
        error: str | None,
    ) -> None:
        """One attempt's outcome (``error`` is None for a success)."""
        streak = self._streaks.setdefault(endpoint_id, _Streak(tenant_id))
        if error is None:
            streak.succeeded, streak.failures, streak.first_failure_at = True, 0, None
            return
        streak.failures += 1
        streak.first_failure_at = streak.first_failure_at or at
        streak.last_error = error

    async def flush(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> list[str]:
        """Write the streaks; returns the ids of the endpoints it disabled."""
        streaks, self._streaks = self._streaks, {}
        disabled = []
        for endpoint_id, streak in streaks.items():
            async with sessions() as db:
                if await self._apply(db, endpoint_id, streak, now):
                    disabled.append(str(endpoint_id))
                await db.commit()
        return disabled

    async def _apply(
        self, db: AsyncSession, endpoint_id: uuid.UUID, streak: _Streak, now: datetime
    ) -> bool:
        endpoint = WebhookEndpoint
        if streak.failures == 0:
            await db.execute(
                update(endpoint)
                .where(endpoint.id == endpoint_id, endpoint.consecutive_failures > 0)
                .values(consecutive_failures=0, failing_since=None)
            )
            return False
        restart = streak.succeeded
        row = (
            await db.execute(
                update(endpoint)
                .where(endpoint.id == endpoint_id)
                .values(
                    consecutive_failures=streak.failures
                    if restart
                    else endpoint.consecutive_failures + streak.failures,
                    failing_since=streak.first_failure_at
                    if restart
                    else func.coalesce(endpoint.failing_since, streak.first_failure_at),
                )
                .returning(endpoint.consecutive_failures, endpoint.failing_since, endpoint.enabled)
            )
        ).one_or_none()
        if row is None or not row.enabled:
            return False
        failing_for = (now - row.failing_since).total_seconds() if row.failing_since else 0.0
        if row.consecutive_failures < self.disable_after_failures or (
            failing_for < self.disable_after_s
        ):
            return False
        reason = (
            f"{row.consecutive_failures} failed attempts in a row over "
            f"{failing_for / 3600:.1f} h (last: {streak.last_error})"
        )[:300]
        await db.execute(
            update(endpoint)
            .where(endpoint.id == endpoint_id)
            .values(enabled=False, disabled_reason=reason)
        )
        await db.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
            .values(status="cancelled")
        )
        await record_event(
            db,
            tenant_id=streak.tenant_id,
            type="webhook_endpoint_disabled",
            data={"endpoint_id": str(endpoint_id), "reason": reason},
        )
        logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        return True
