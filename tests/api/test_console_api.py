"""The admin console's endpoints: usage per day, API keys, live conversations, fallbacks,
webhook deliveries across tenants; and a tenant's own usage per day."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.console_rows import add_conversation, add_fallback
from tests.conftest import TEST_SECRET, TenantFactory
from visavis.config import Settings
from visavis.context import AppContext
from visavis.ops.events import record_event

ADMIN_KEY = "admin-key-for-console-tests-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Visavis-Actor": "olga"}
PROBLEM = "application/problem+json"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        admin_api_key=ADMIN_KEY,
        webhook_delivery=False,
        sweeper_interval_s=3600,
    )


def midnight_today() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


async def test_usage_per_day_is_counted_by_utc_day_for_every_tenant(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    acme, beta = await make_tenant("acme"), await make_tenant("beta")
    acme_id, beta_id = uuid.UUID(acme.tenant_id), uuid.UUID(beta.tenant_id)
    today = midnight_today()
    # Two days ago: two conversations, one with a 90 s avatar that cost $0.30.
    await add_conversation(ctx.sessions, acme_id, today - timedelta(days=2, hours=-9))
    await add_conversation(
        ctx.sessions,
        acme_id,
        today - timedelta(days=2, hours=-10),
        avatar_seconds=90,
        cost_microusd=300_000,
    )
    # One second either side of midnight: yesterday and today.
    await add_conversation(ctx.sessions, acme_id, today - timedelta(seconds=1))
    await add_conversation(
        ctx.sessions, acme_id, today + timedelta(seconds=1), avatar_seconds=30, cost_microusd=1
    )
    await add_conversation(
        ctx.sessions, beta_id, today, avatar_seconds=60.5, cost_microusd=2_500_000
    )
    # Older than the window: not counted.
    await add_conversation(ctx.sessions, acme_id, today - timedelta(days=3))

    answer = await client.get("/v1/admin/usage/daily", params={"days": 3}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["days"] == [(today - timedelta(days=n)).date().isoformat() for n in (2, 1, 0)]
    by_name = {t["tenant"]: t for t in body["tenants"]}
    assert by_name["acme"]["conversations"] == [2, 1, 1]
    assert by_name["acme"]["avatar_sessions"] == [1, 0, 1]
    assert by_name["acme"]["avatar_seconds"] == [90.0, 0.0, 30.0]
    assert by_name["acme"]["cost_usd"] == [0.3, 0.0, 0.000001]
    assert by_name["beta"]["conversations"] == [0, 0, 1]
    assert by_name["beta"]["avatar_seconds"] == [0.0, 0.0, 60.5]
    assert by_name["beta"]["cost_usd"] == [0.0, 0.0, 2.5]

    only = await client.get("/v1/admin/usage/daily", params={"tenant": "beta"}, headers=ADMIN)
    assert [t["tenant"] for t in only.json()["tenants"]] == ["beta"]
    assert len(only.json()["days"]) == 30


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"days": 0}, 422, "days"),
        ({"days": 367}, 422, "days"),
        ({"tenant": "nobody"}, 404, "nobody"),
    ],
)
async def test_bad_usage_questions_are_clear_problems(
    client: httpx.AsyncClient, params: dict[str, object], status: int, words: str
) -> None:
    answer = await client.get("/v1/admin/usage/daily", params=params, headers=ADMIN)
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM
    assert words in answer.json()["detail"]


async def test_a_tenant_sees_its_own_usage_per_day_and_nobody_else_s(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    acme, beta = await make_tenant("acme"), await make_tenant("beta")
    today = midnight_today() + timedelta(hours=1)
    await add_conversation(
        ctx.sessions, uuid.UUID(acme.tenant_id), today, avatar_seconds=120, cost_microusd=400_000
    )
    await add_conversation(ctx.sessions, uuid.UUID(beta.tenant_id), today)

    mine = await client.get("/v1/tenant/usage/daily", params={"days": 7}, headers=acme.headers)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert len(body["days"]) == 7 and body["days"][-1] == today.date().isoformat()
    assert body["conversations"] == [0] * 6 + [1]
    assert body["avatar_seconds"][-1] == 120.0 and body["cost_usd"][-1] == 0.4
    theirs = await client.get("/v1/tenant/usage/daily", headers=beta.headers)
    assert theirs.json()["conversations"][-1] == 1 and theirs.json()["cost_usd"][-1] == 0.0

    refused = await client.get("/v1/tenant/usage/daily")
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    too_long = await client.get("/v1/tenant/usage/daily?days=1000", headers=acme.headers)
    assert too_long.status_code == 422 and too_long.headers["content-type"] == PROBLEM


async def test_keys_are_created_shown_once_and_revoked_at_once(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme, beta = await make_tenant("acme"), await make_tenant("beta")
    created = await client.post("/v1/admin/tenants/acme/keys", headers=ADMIN)
    assert created.status_code == 201, created.text
    key, prefix = created.json()["key"], created.json()["prefix"]
    assert key.startswith(prefix)
    new_key = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/tenant/usage", headers=new_key)).status_code == 200

    listed = (await client.get("/v1/admin/tenants/acme/keys", headers=ADMIN)).json()["items"]
    assert len(listed) == 2 and all("key" not in k for k in listed)
    assert {k["prefix"] for k in listed} == {prefix, acme.key[: len(prefix)]}

    # Another tenant's key is not revoked through this tenant.
    beta_prefix = beta.key[: len(prefix)]
    wrong = await client.delete(f"/v1/admin/tenants/acme/keys/{beta_prefix}", headers=ADMIN)
    assert wrong.status_code == 404 and wrong.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/tenant/usage", headers=beta.headers)).status_code == 200

    revoked = await client.delete(f"/v1/admin/tenants/acme/keys/{prefix}", headers=ADMIN)
    assert revoked.status_code == 204
    assert (await client.get("/v1/tenant/usage", headers=new_key)).status_code == 401
    assert (await client.get("/v1/tenant/usage", headers=acme.headers)).status_code == 200
    again = await client.delete(f"/v1/admin/tenants/acme/keys/{prefix}", headers=ADMIN)
    assert again.status_code == 204
    listed = (await client.get("/v1/admin/tenants/acme/keys", headers=ADMIN)).json()["items"]
    assert [k["revoked_at"] is not None for k in listed if k["prefix"] == prefix] == [True]
    missing = await client.post("/v1/admin/tenants/nobody/keys", headers=ADMIN)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_live_conversations_and_recent_fallbacks_span_tenants(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    acme, beta = await make_tenant("acme"), await make_tenant("beta")
    now = datetime.now(UTC)
    held = await add_conversation(
        ctx.sessions,
        uuid.UUID(acme.tenant_id),
        now,
        avatar_seconds=0,
        status="active",
        instance="vv-1",
    )
    waiting = await add_conversation(ctx.sessions, uuid.UUID(beta.tenant_id), now, status="active")
    await add_conversation(ctx.sessions, uuid.UUID(beta.tenant_id), now, status="ended")
    await add_fallback(
        ctx.sessions, uuid.UUID(acme.tenant_id), held, reason="provider_error", at_ms=42_000
    )
    await add_fallback(
        ctx.sessions, uuid.UUID(beta.tenant_id), waiting, reason="start_timeout", at_ms=5
    )

    live = (await client.get("/v1/admin/conversations/live", headers=ADMIN)).json()["items"]
    assert {(c["id"], c["tenant"], c["instance"]) for c in live} == {
        (str(held), "acme", "vv-1"),
        (str(waiting), "beta", None),
    }
    held_row = next(c for c in live if c["id"] == str(held))
    assert held_row["avatar_provider"] == "liveavatar" and held_row["avatar_enabled"] is True

    fallbacks = (await client.get("/v1/admin/fallbacks", headers=ADMIN)).json()["items"]
    assert [(f["tenant"], f["reason"], f["at_ms"]) for f in fallbacks] == [
        ("beta", "start_timeout", 5),
        ("acme", "provider_error", 42_000),
    ]
    one = await client.get("/v1/admin/fallbacks", params={"limit": 1}, headers=ADMIN)
    assert len(one.json()["items"]) == 1
    bad = await client.get("/v1/admin/conversations/live", params={"limit": 0}, headers=ADMIN)
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM


async def test_webhook_deliveries_of_every_tenant_newest_first(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    acme, beta = await make_tenant("acme"), await make_tenant("beta")
    for tenant in (acme, beta):
        endpoint = await client.post(
            "/v1/webhooks",
            json={"url": f"http://127.0.0.1:9/{tenant.name}"},
            headers=tenant.headers,
        )
        assert endpoint.status_code == 201, endpoint.text
    for tenant, kind in ((acme, "conversation_started"), (beta, "quota_refused")):
        async with ctx.sessions() as db:
            await record_event(db, tenant_id=uuid.UUID(tenant.tenant_id), type=kind, data={})
            await db.commit()

    answer = await client.get("/v1/admin/webhooks/deliveries", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert [
        (d["tenant"], d["event_type"], d["status"], d["url"]) for d in answer.json()["items"]
    ] == [
        ("beta", "quota_refused", "pending", "http://127.0.0.1:9/beta"),
        ("acme", "conversation_started", "pending", "http://127.0.0.1:9/acme"),
    ]
    none = await client.get("/v1/admin/webhooks/deliveries?status=delivered", headers=ADMIN)
    assert none.json()["items"] == []
    bad = await client.get("/v1/admin/webhooks/deliveries?status=lost", headers=ADMIN)
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/usage/daily"),
        ("GET", "/v1/admin/tenants/acme/keys"),
        ("POST", "/v1/admin/tenants/acme/keys"),
        ("DELETE", "/v1/admin/tenants/acme/keys/vv_00000000"),
        ("GET", "/v1/admin/conversations/live"),
        ("GET", "/v1/admin/fallbacks"),
        ("GET", "/v1/admin/webhooks/deliveries"),
        ("GET", "/v1/admin/avatars"),
    ],
)
async def test_console_endpoints_open_to_the_admin_key_only(
    client: httpx.AsyncClient, make_tenant: TenantFactory, method: str, path: str
) -> None:
    acme = await make_tenant("acme")
    for headers in ({}, acme.headers, {"Authorization": "Bearer not-the-admin-key"}):
        answer = await client.request(method, path, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/admin/tenants/acme/keys", headers=ADMIN)).status_code == 200
