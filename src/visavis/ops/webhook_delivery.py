"""Webhook delivery, driven from the database so it survives restarts and scales out.

Every instance runs a dispatcher. It claims due deliveries with ``FOR UPDATE SKIP LOCKED`` (on
SQLite, whose writes are serialized, the conditional ``UPDATE … RETURNING`` alone) by moving
their ``next_attempt_at`` a lease into the future, then sends them. Two instances never claim
one delivery at once; if an instance dies mid-send, the lease runs out and another sends it
again: at-least-once, and receivers drop repeats by ``Visavis-Event-Id``. Failures are retried
with exponential backoff and jitter for hours; an endpoint failing long enough is disabled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.db.base import utcnow
from visavis.db.models import AnalyticsEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from visavis.ops.events import EventRecorder
from visavis.ops.metrics import Metrics
from visavis.ops.webhook_health import EndpointHealth
from visavis.ops.webhook_signing import signed_headers
from visavis.tenancy.crypto import SecretBox

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryOptions:
    """How hard and how long to try (``VISAVIS_WEBHOOK_*``)."""

    timeout_s: float = 10.0
    max_attempts: int = 20
    retry_base_s: float = 5.0
    retry_max_s: float = 3600.0
    disable_after_failures: int = 50
    disable_after_s: float = 86400.0
    poll_interval_s: float = 1.0
    concurrency: int = 16
    #: Added to the timeout to make the lease: past it, a claimed delivery is sent again.
    lease_margin_s: float = 30.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.max_attempts < 1 or self.concurrency < 1:
            raise ValueError("timeout, attempts and concurrency must be positive")

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is left alone: one attempt and some margin."""
        return timedelta(seconds=self.timeout_s + self.lease_margin_s)

    def retry_delay_s(self, attempts: int) -> float:
        """Wait after the ``attempts``-th failure: doubling from the base, capped, jittered."""
        doubled: float = self.retry_base_s * 2.0 ** max(0, attempts - 1)
        return min(self.retry_max_s, doubled) * random.uniform(0.8, 1.2)


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: uuid.UUID
    tenant_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secret: str | None  # None: the endpoint is disabled or its secret unreadable
    attempt: int
    created_at: datetime
    event_id: uuid.UUID
    body: bytes


def event_body(event: AnalyticsEvent) -> bytes:
    """The JSON a webhook receives for ``event``."""
    return json.dumps(
        {
            "id": str(event.id),
            "type": event.type,
            "created_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
            "tenant_id": str(event.tenant_id),
            "conversation_id": str(event.conversation_id) if event.conversation_id else None,
            "data": event.data,
        },
        separators=(",", ":"),
    ).encode("utf-8")


class WebhookDispatcher:
    """Claims due deliveries and sends them, ``concurrency`` at a time."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        options: DeliveryOptions,
        events: EventRecorder,
        metrics: Metrics | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.options = options
        self.events = events
        self.metrics = metrics
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task[None]] = set()
        self.health = EndpointHealth(
            disable_after_failures=options.disable_after_failures,
            disable_after_s=options.disable_after_s,
        )

    def start(self) -> None:
        """Deliver in the background until :meth:`aclose`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def _run(self) -> None:
        wake = self.events.wake
        flushed = time.monotonic()
        while not self._stopping:
            wake.clear()
            free = self.options.concurrency - len(self._inflight)
            claimed: list[_Job] = []
            try:
                if time.monotonic() - flushed >= self.options.poll_interval_s:
                    flushed = time.monotonic()
                    for _ in await self.health.flush(self.sessions, utcnow()):
                        self.events.recorded("webhook_endpoint_disabled")
                if free > 0:
                    claimed = await self.claim(free)
            except Exception:  # the database is away: try again at the next poll
                logger.exception("could not claim webhook deliveries")
            for job in claimed:
                task = asyncio.create_task(self._deliver(job), name="webhook-delivery")
                self._inflight.add(task)
                task.add_done_callback(self._finished)
            if claimed and len(claimed) == free:
                continue  # maybe more are due already
            try:
                await asyncio.wait_for(wake.wait(), timeout=self.options.poll_interval_s)
            except TimeoutError:
                pass

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self.events.wake.set()  # a slot is free

    async def claim(self, limit: int) -> list[_Job]:
        """Lease up to ``limit`` due deliveries to this instance, with what sending needs."""
        now = utcnow()
        async with self.sessions() as db:
            # One statement: PostgreSQL locks the due rows it picks, skipping those another
            # instance holds; SQLite takes its write lock first (no read-then-write upgrade).
            due = (
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            claimed = await db.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(due.scalar_subquery()),
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + self.options.lease)
                .returning(WebhookDelivery.id)
                .execution_options(synchronize_session=False)
            )
            claimed_ids = list(claimed.scalars().all())
            if not claimed_ids:
                await db.rollback()
                return []
            rows = (
                await db.execute(
                    select(WebhookDelivery, AnalyticsEvent, WebhookEndpoint)
                    .join(AnalyticsEvent, AnalyticsEvent.id == WebhookDelivery.event_id)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(WebhookDelivery.id.in_(claimed_ids))
                )
            ).all()
            await db.commit()
        return [self._job(delivery, event, endpoint) for delivery, event, endpoint in rows]

    def _job(
        self, delivery: WebhookDelivery, event: AnalyticsEvent, endpoint: WebhookEndpoint
    ) -> _Job:
        secret = self.box.decrypt(endpoint.secret_encrypted) if endpoint.enabled else None
        return _Job(
            delivery_id=delivery.id,
            tenant_id=delivery.tenant_id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            secret=secret,
            attempt=delivery.attempts + 1,
            created_at=delivery.created_at,
            event_id=event.id,
            body=event_body(event),
        )

    async def _deliver(self, job: _Job) -> None:
        try:
            if job.secret is None:
                await self._cancel(job.delivery_id)
                return
            sent_at = utcnow()
            status, error, seconds = await self._send(job, job.secret)
            await self._record(job, sent_at, status, error, seconds)
        except Exception:  # the lease runs out and the delivery is tried again
            logger.exception("webhook delivery %s failed unexpectedly", job.delivery_id)

    async def _send(self, job: _Job, secret: str) -> tuple[int | None, str | None, float]:
        headers = signed_headers(secret, job.body, event_id=str(job.event_id), attempt=job.attempt)
        started = time.perf_counter()
        try:
            response = await self._client.post(
                job.url,
                content=job.body,
                headers=headers,
                timeout=httpx.Timeout(self.options.timeout_s),
            )
        except httpx.TimeoutException:
            return None, f"no answer within {self.options.timeout_s:g} s", self._since(started)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300], self._since(started)
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return response.status_code, error, self._since(started)

    @staticmethod
    def _since(started: float) -> float:
        return time.perf_counter() - started

    async def _record(
        self, job: _Job, sent_at: datetime, status: int | None, error: str | None, seconds: float
    ) -> None:
        now = utcnow()
        delivered = error is None
        gave_up = not delivered and job.attempt >= self.options.max_attempts
        values: dict[str, object] = {
            "attempts": job.attempt,
            "first_attempt_at": func.coalesce(WebhookDelivery.first_attempt_at, sent_at),
            "last_attempt_at": sent_at,
            "last_status_code": status,
            "last_error": error,
        }
        if delivered:
            values |= {"status": "delivered", "delivered_at": now}
        elif gave_up:
            values |= {"status": "failed"}
        else:
            retry = timedelta(seconds=self.options.retry_delay_s(job.attempt))
            values |= {"next_attempt_at": now + retry}
        async with self.sessions() as db:
            await db.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == job.delivery_id)
                .values(**values)
            )
            db.add(
                WebhookAttempt(
                    tenant_id=job.tenant_id,
                    delivery_id=job.delivery_id,
                    attempted_at=sent_at,
                    status_code=status,
                    error=error,
                    duration_ms=round(seconds * 1000),
                )
            )
            await db.commit()
        self.health.note(
            endpoint_id=job.endpoint_id, tenant_id=job.tenant_id, at=sent_at, error=error
        )
        if self.metrics is not None:
            delay = (sent_at - job.created_at).total_seconds() if job.attempt == 1 else None
            outcome = "delivered" if delivered else ("gave_up" if gave_up else "failed")
            self.metrics.webhook_attempt(outcome=outcome, delay_s=delay)

    async def _cancel(self, delivery_id: uuid.UUID) -> None:
        async with self.sessions() as db:
            await db.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(status="cancelled")
            )
            await db.commit()

    async def aclose(self) -> None:
        """Stop claiming, let attempts in flight finish (bounded by their timeout); idempotent.

        A delivery still unrecorded at shutdown stays leased and is sent again after its lease.
        """
        task, self._task = self._task, None
        if task is not None:
            # Stopped between database calls, never inside one: a transaction cancelled
            # halfway can leave its connection (and on SQLite the write lock) behind.
            self._stopping = True
            self.events.wake.set()
            _, running = await asyncio.wait({task}, timeout=self.options.timeout_s + 30)
            for stuck in running:
                stuck.cancel()
                await asyncio.wait({stuck})
        inflight = set(self._inflight)
        if inflight:
            _, late = await asyncio.wait(inflight, timeout=self.options.timeout_s + 5)
            for job in late:
                job.cancel()
            if late:
                await asyncio.wait(late)
        try:
            await self.health.flush(self.sessions, utcnow())
        except Exception:  # failures not yet counted are counted again by the retries
            logger.exception("could not write webhook endpoint health at shutdown")
        await self._client.aclose()
