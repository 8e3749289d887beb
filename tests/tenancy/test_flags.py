"""Feature flags: precedence, stable rollout, per-instance cache, change record, kill switch."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TEST_SECRET, TenantFactory
from visavis.app import create_app
from visavis.config import Settings
from visavis.context import AppContext
from visavis.db.repositories.flags import FlagRepository
from visavis.tenancy import flags
from visavis.tenancy.flags import FlagCache, FlagSettings, FlagSnapshot

ADMIN_KEY = "admin-key-for-tests-0123456789abcdefghijklmnop"
TENANT = uuid.UUID("00000000-0000-7000-8000-000000000001")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        admin_api_key=ADMIN_KEY,
    )


def _snapshot(state: str | None = None, **flag: object) -> FlagSnapshot:
    settings = FlagSettings(name="avatar", **flag)  # type: ignore[arg-type]
    states = {("avatar", TENANT): state} if state else {}
    return FlagSnapshot(flags={"avatar": settings}, tenant_states=states)


def test_precedence_kill_switch_then_override_then_switch_then_beta_then_rollout() -> None:
    def answer(state: str | None = None, **flag: object) -> tuple[bool, str | None]:
        decision = _snapshot(state, **flag).evaluate("avatar", TENANT)
        return decision.enabled, decision.reason

    assert answer() == (True, None)  # no row: the defaults
    assert answer("on", kill_switch=True) == (False, "kill_switch")
    assert answer("on", enabled=False) == (True, None)
    assert answer("off") == (False, "override_off")
    assert answer("beta", enabled=False) == (False, "flag_disabled")
    assert answer("beta", rollout_percent=0) == (True, None)
    assert answer(rollout_percent=0) == (False, "not_in_rollout")


def test_rollout_bucket_is_stable_and_spread_evenly() -> None:
    # Pinned: the same tenant lands in the same bucket on every instance, restart and release.
    assert flags.rollout_bucket("avatar", TENANT) == flags.rollout_bucket("avatar", TENANT)
    assert flags.rollout_bucket("avatar", TENANT) == 81
    tenants = [uuid.UUID(int=n * 7919 + 1) for n in range(2000)]
    at_30 = sum(
        _snapshot(rollout_percent=30).evaluate("avatar", tenant).enabled for tenant in tenants
    )
    assert 0.26 < at_30 / len(tenants) < 0.34
    # Raising the percentage only adds tenants: nobody who had the feature loses it.
    had = {t for t in tenants if _snapshot(rollout_percent=30).evaluate("avatar", t).enabled}
    has = {t for t in tenants if _snapshot(rollout_percent=60).evaluate("avatar", t).enabled}
    assert had <= has


async def test_cache_serves_its_copy_until_the_ttl_passes(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    tenant = uuid.UUID((await make_tenant("acme")).tenant_id)
    now = [1000.0]
    cache = FlagCache(ctx.sessions, ttl_s=5, clock=lambda: now[0])
    assert (await cache.evaluate("avatar", tenant)).enabled
    async with ctx.sessions() as session:
        await flags.update_flag(session, "avatar", actor="test", kill_switch=True)
        await session.commit()
    now[0] += 4.9
    assert (await cache.evaluate("avatar", tenant)).enabled  # still the cached copy
    now[0] += 0.2
    assert (await cache.evaluate("avatar", tenant)).reason == "kill_switch"
    async with ctx.sessions() as session:
        await flags.update_flag(session, "avatar", actor="test", kill_switch=False)
        await session.commit()
    cache.invalidate()
    assert (await cache.evaluate("avatar", tenant)).enabled


async def test_every_change_is_recorded_with_who_and_what(
    ctx: AppContext, make_tenant: TenantFactory
) -> None:
    tenant = uuid.UUID((await make_tenant("acme")).tenant_id)
    async with ctx.sessions() as session:
        await flags.update_flag(session, "avatar", actor="alice", rollout_percent=25)
        await flags.update_flag(session, "avatar", actor="alice", rollout_percent=25)  # no-op
        await flags.set_tenant_state(session, "avatar", tenant, "beta", actor="bob")
        await flags.set_tenant_state(session, "avatar", tenant, None, actor="bob")
        await session.commit()
        changes = await FlagRepository(session).changes("avatar", limit=10)
    assert [(c.actor, c.change) for c in changes] == [
        ("bob", {"state": ["beta", None]}),
        ("bob", {"state": [None, "beta"]}),
        ("alice", {"rollout_percent": [100, 25]}),
    ]
    assert changes[0].tenant_id == tenant
    with pytest.raises(flags.UnknownFlag):
        async with ctx.sessions() as session:
            await flags.update_flag(session, "no-such-flag", actor="x", enabled=True)


async def _avatar_of(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    response = await http.post(
        "/v1/conversations", json={"avatar": {"provider": "local"}}, headers=headers
    )
    assert response.status_code == 201
    avatar: dict[str, object] = response.json()["avatar"]
    return avatar | {"id": response.json()["id"]}


async def test_kill_switch_reaches_every_instance_within_five_seconds(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    other_instance = create_app(settings)
    async with other_instance.router.lifespan_context(other_instance):
        transport = httpx.ASGITransport(app=other_instance, client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as other:
            running = await _avatar_of(other, acme.headers)  # also fills b's cache
            assert running["enabled"] is True

            killed = await client.patch(
                "/v1/admin/flags/avatar",
                json={"kill_switch": True},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
            assert killed.status_code == 200
            switched_at = time.monotonic()
            # The instance that took the change follows at once.
            here = await _avatar_of(client, acme.headers)
            assert (here["enabled"], here["reason"]) == (False, "kill_switch")
            # The other follows within its cache's lifetime (at most 5 s).
            while True:
                there = await _avatar_of(other, acme.headers)
                if there["enabled"] is False:
                    break
                assert time.monotonic() - switched_at < 5.0, "kill switch not seen within 5 s"
                await asyncio.sleep(0.1)
            assert there["reason"] == "kill_switch"
            assert "audio-only" in str(there["detail"])
            # Conversations that had their avatar keep it.
            before = await other.get(f"/v1/conversations/{running['id']}", headers=acme.headers)
            assert before.json()["avatar"]["enabled"] is True
