"""``GET /v1/tenant/usage``: this UTC month against the limits, and the months before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from tests.conftest import TenantFactory
from visavis.context import AppContext
from visavis.tenancy import quotas


async def test_usage_counts_avatar_sessions_against_the_limits(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    empty = await client.get("/v1/tenant/usage", headers=acme.headers)
    assert empty.status_code == 200
    now = datetime.now(UTC)
    assert empty.json()["current"]["period"] == now.strftime("%Y-%m")
    assert empty.json()["current"]["avatar_sessions"] == 0
    assert empty.json()["remaining"] == {
        "avatar_sessions": None,
        "avatar_seconds": None,
        "cost_usd": None,
    }

    await client.put(
        "/v1/tenant/preferences",
        json={"monthly_avatar_session_limit": 5, "monthly_cost_limit_usd": 2.5},
        headers=acme.headers,
    )
    for avatar in ({"provider": "local"}, True, None):
        await client.post("/v1/conversations", json={"avatar": avatar}, headers=acme.headers)
    body = (await client.get("/v1/tenant/usage", headers=acme.headers)).json()
    current = body["current"]
    assert current["avatar_sessions"] == 2  # audio-only conversations are not avatar sessions
    assert current["in_flight_sessions"] == 2
    assert current["avatar_seconds"] == current["in_flight_estimated_seconds"] > 0
    assert current["cost_usd"] == 0  # the local avatar costs nothing
    assert body["limits"] == {
        "monthly_avatar_session_limit": 5,
        "monthly_avatar_seconds_limit": None,
        "monthly_cost_limit_usd": 2.5,
    }
    assert body["remaining"]["avatar_sessions"] == 3
    assert body["remaining"]["cost_usd"] == 2.5
    resets = datetime.fromisoformat(current["resets_at"])
    assert resets.day == 1 and resets > now


async def test_past_months_are_listed_newest_first(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    tenant_id = uuid.UUID(acme.tenant_id)
    async with ctx.sessions() as session:
        for month in (1, 3, 2):
            reservation = await quotas.reserve(
                session,
                tenant_id=tenant_id,
                limits=quotas.QuotaLimits(),
                estimated_seconds=100,
                now=datetime(2020, month, 15, tzinfo=UTC),
            )
            await quotas.settle(
                session,
                reservation.id,
                tenant_id=tenant_id,
                actual_seconds=30 * month,
                cost_microusd=250_000 * month,
            )
        await session.commit()
    body = (await client.get("/v1/tenant/usage?months=2", headers=acme.headers)).json()
    assert [m["period"] for m in body["history"]] == ["2020-03", "2020-02"]
    march = body["history"][0]
    assert (march["avatar_sessions"], march["avatar_seconds"], march["cost_usd"]) == (1, 90, 0.75)
    assert march["in_flight_sessions"] == 0
    assert march["resets_at"].startswith("2020-04-01T00:00:00")

    other = await make_tenant("other")
    theirs = (await client.get("/v1/tenant/usage", headers=other.headers)).json()
    assert theirs["history"] == []
    bad = await client.get("/v1/tenant/usage?months=-1", headers=acme.headers)
    assert bad.status_code == 422
