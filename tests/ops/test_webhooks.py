"""Webhooks: signed, retried, logged, disabled when failing; driven from the database, so they
survive a restart and two instances don't deliver one event twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import TEST_SECRET, TenantFactory
from tests.fakes.webhook_receiver import Receiver, serve_receiver
from visavis.config import Settings
from visavis.context import AppContext
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.models import AnalyticsEvent, WebhookDelivery, WebhookEndpoint
from visavis.ops.events import EventRecorder, record_event
from visavis.ops.metrics import Metrics
from visavis.ops.webhook_delivery import DeliveryOptions, WebhookDispatcher
from visavis.ops.webhook_endpoints import WebhookEndpoints
from visavis.ops.webhook_signing import signature, verify
from visavis.tenancy.crypto import SecretBox

# A generous timeout: an answer that comes after it counts as a failure and is sent again
# (at-least-once), which would read as a double delivery on a loaded machine.
FAST = DeliveryOptions(
    timeout_s=20.0,
    retry_base_s=0.02,
    retry_max_s=0.1,
    poll_interval_s=0.05,
    lease_margin_s=10.0,
    concurrency=8,
)
BOX = SecretBox.from_config(encryption_keys=None, secret_key=TEST_SECRET)


def test_signatures_verify_and_refuse_tampering_and_replays() -> None:
    body = b'{"id":"e1"}'
    now = time.time()
    header = signature("whsec_x", int(now), body)
    assert verify("whsec_x", body, timestamp_header=str(int(now)), signature_header=header)
    assert not verify(
        "whsec_x", body + b" ", timestamp_header=str(int(now)), signature_header=header
    )
    assert not verify("whsec_y", body, timestamp_header=str(int(now)), signature_header=header)
    old = int(now) - 600
    stale = signature("whsec_x", old, body)
    assert not verify("whsec_x", body, timestamp_header=str(old), signature_header=stale)
    assert not verify("whsec_x", body, timestamp_header="soon", signature_header=header)
    rotated = f"v1=deadbeef, {header}"  # several signatures: any one may match
    assert verify("whsec_x", body, timestamp_header=str(int(now)), signature_header=rotated)


def test_the_documented_verification_accepts_our_signatures() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    code = text.split("In Python:\n\n```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(code, namespace)  # the receiver's side, exactly as documented
    documented = namespace["verify"]
    assert callable(documented)
    body, now = b'{"id":"e2","type":"avatar_fallback"}', int(time.time())
    header = signature("whsec_doc", now, body)
    assert documented("whsec_doc", body, str(now), header) is True
    assert documented("whsec_doc", body + b"x", str(now), header) is False
    assert (
        documented("whsec_doc", body, str(now - 301), signature("whsec_doc", now - 301, body))
        is False
    )


def test_retry_delays_double_up_to_hours() -> None:
    options = DeliveryOptions()
    delays = [options.retry_delay_s(n) for n in range(1, options.max_attempts)]
    assert 4 <= delays[0] <= 6
    assert all(d <= options.retry_max_s * 1.2 for d in delays)
    assert sum(delays) > 6 * 3600  # a receiver down for hours still gets its events


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The app's own dispatcher is off: each test runs the dispatchers it means to."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        webhook_delivery=False,
    )


class Instance:
    """One more Visavis instance's worth of delivery: its own engine and dispatcher."""

    def __init__(self, url: str, options: DeliveryOptions) -> None:
        self.engine = create_engine(url)
        self.sessions = create_session_factory(self.engine)
        self.metrics = Metrics(version="test")
        self.events = EventRecorder(self.sessions, self.metrics)
        self.dispatcher = WebhookDispatcher(
            sessions=self.sessions,
            box=BOX,
            options=options,
            events=self.events,
            metrics=self.metrics,
        )

    async def aclose(self) -> None:
        await self.dispatcher.aclose()
        await self.engine.dispose()


@pytest.fixture
async def instances(settings: Settings) -> AsyncIterator[Callable[[DeliveryOptions], Instance]]:
    made: list[Instance] = []

    def make(options: DeliveryOptions) -> Instance:
        made.append(Instance(settings.database_url, options))
        return made[-1]

    yield make
    for instance in made:
        await instance.aclose()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    with serve_receiver(hook) as url:
        yield hook, url


async def _tenant_with_endpoint(
    make_tenant: TenantFactory, ctx: AppContext, url: str, receiver: Receiver
) -> tuple[uuid.UUID, uuid.UUID]:
    tenant = await make_tenant(f"t{uuid.uuid4().hex[:8]}")
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with ctx.sessions() as session:
        row, secret = await WebhookEndpoints(session, tenant_id).register(
            url=url,
            event_types=None,
            box=BOX,
            require_https=False,
        )
        await session.commit()
    receiver.secret = secret
    return tenant_id, row.id


async def _record(ctx: AppContext, tenant_id: uuid.UUID, count: int) -> list[str]:
    ids = []
    async with ctx.sessions() as session:
        for n in range(count):
            event = await record_event(
                session, tenant_id=tenant_id, type="turn_completed", data={"turn": n}
            )
            ids.append(str(event.id))
        await session.commit()
    return ids


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


async def _statuses(ctx: AppContext) -> Counter[str]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        )
        return Counter({status: count for status, count in rows.all()})


async def test_two_instances_deliver_every_event_once_despite_failures(
    ctx: AppContext,
    make_tenant: TenantFactory,
    instances: Callable[[DeliveryOptions], Instance],
    receiver: tuple[Receiver, str],
) -> None:
    hook, url = receiver
    hook.fail_rate = 0.3
    tenant_id, _ = await _tenant_with_endpoint(make_tenant, ctx, url, hook)
    ids = await _record(ctx, tenant_id, 120)
    for instance in (instances(FAST), instances(FAST)):
        instance.dispatcher.start()

    async def all_delivered() -> bool:
        return (await _statuses(ctx))["delivered"] == len(ids)

    await until(all_delivered)
    accepted = Counter(hook.accepted_ids())
    assert set(accepted) == set(ids)
    assert max(accepted.values()) == 1, "an event was accepted twice without a crash"
    assert hook.bad_signatures == 0
    retried = [r for r in hook.snapshot() if r.attempt > 1]
    assert retried, "with 30 % failures some events needed a second attempt"
    body = hook.snapshot()[0].body
    assert body["type"] == "turn_completed" and body["tenant_id"] == str(tenant_id)


async def test_delivery_survives_a_restart(
    ctx: AppContext,
    make_tenant: TenantFactory,
    instances: Callable[[DeliveryOptions], Instance],
    receiver: tuple[Receiver, str],
) -> None:
    hook, url = receiver
    tenant_id, _ = await _tenant_with_endpoint(make_tenant, ctx, url, hook)
    ids = await _record(ctx, tenant_id, 60)
    short_lease = replace(FAST, timeout_s=2.0, lease_margin_s=0.5)
    first = instances(replace(short_lease, concurrency=2))
    first.dispatcher.start()
    await until(lambda: _some(hook))
    await first.dispatcher.aclose()  # "crash": in-flight deliveries stay leased
    second = instances(short_lease)
    second.dispatcher.start()

    async def all_delivered() -> bool:
        return (await _statuses(ctx))["delivered"] == len(ids)

    await until(all_delivered)
    assert set(hook.accepted_ids()) == set(ids)


async def _some(hook: Receiver) -> bool:
    return len(hook.snapshot()) >= 1


async def test_an_endpoint_failing_too_long_is_disabled_and_can_be_enabled_again(
    ctx: AppContext,
    make_tenant: TenantFactory,
    instances: Callable[[DeliveryOptions], Instance],
    receiver: tuple[Receiver, str],
    client: httpx.AsyncClient,
) -> None:
    hook, url = receiver
    hook.fail_rate = 1.0
    tenant_id, endpoint_id = await _tenant_with_endpoint(make_tenant, ctx, url, hook)
    await _record(ctx, tenant_id, 3)
    options = replace(FAST, disable_after_failures=4, disable_after_s=0.0, max_attempts=50)
    instance = instances(options)
    instance.dispatcher.start()

    async def disabled() -> bool:
        async with ctx.sessions() as session:
            row = await session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
            return row is not None and not row.enabled

    await until(disabled)
    await instance.dispatcher.aclose()
    async with ctx.sessions() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None and "failed attempts in a row" in (row.disabled_reason or "")
        kinds = (await session.execute(select(AnalyticsEvent.type))).scalars().all()
    assert "webhook_endpoint_disabled" in kinds
    assert (await _statuses(ctx))["pending"] == 0
    scrape = instance.metrics.scrape().decode()
    assert 'visavis_webhook_deliveries_total{outcome="failed"}' in scrape


async def test_quota_refusal_becomes_an_event(ctx: AppContext, make_tenant: TenantFactory) -> None:
    from visavis.db.repositories.tenants import TenantRepository
    from visavis.tenancy.admission import admit_avatar

    tenant = await make_tenant("limited")
    tenant_id = uuid.UUID(tenant.tenant_id)
    async with ctx.sessions() as session:
        prefs = await TenantRepository(session).preferences(tenant_id)
        prefs.monthly_avatar_session_limit = 0
        admission = await admit_avatar(
            session,
            settings=ctx.settings,
            tenant_id=tenant_id,
            provider="local",
            prefs=prefs,
            flags=None,
            metrics=ctx.metrics,
        )
        await session.commit()
    assert not admission.enabled
    async with ctx.sessions() as session:
        events = (await session.execute(select(AnalyticsEvent))).scalars().all()
    assert [(e.type, e.data["limit"]) for e in events] == [
        ("quota_refused", "monthly_avatar_session_limit")
    ]
    assert 'visavis_quota_refusals_total{kind="monthly_avatar_session_limit"} 1.0' in (
        ctx.metrics.scrape().decode()
    )
