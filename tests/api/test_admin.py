"""``/v1/admin``: flags and tenants' limits for the operator, behind the admin key only."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TEST_SECRET, TenantFactory
from visavis.app import create_app
from visavis.config import Settings

ADMIN_KEY = "admin-key-for-tests-0123456789abcdefghijklmnop"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Visavis-Actor": "alice (ops)"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        admin_api_key=ADMIN_KEY,
    )


async def test_admin_api_is_absent_without_an_admin_key(database_url: str) -> None:
    plain = Settings(_env_file=None, database_url=database_url, secret_key=TEST_SECRET)  # type: ignore[call-arg]
    application: FastAPI = create_app(plain)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/v1/admin/flags", headers=ADMIN)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_only_the_admin_key_opens_it(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    for headers in (
        {},
        acme.headers,
        {"Authorization": f"Bearer {ADMIN_KEY}x"},
        {"Authorization": f"Basic {ADMIN_KEY}"},
    ):
        response = await client.get("/v1/admin/tenants", headers=headers)
        assert response.status_code == 401, headers
        assert "acme" not in response.text
    assert (await client.get("/v1/admin/tenants", headers=ADMIN)).status_code == 200


async def test_flags_are_changed_and_every_change_recorded(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    listed = (await client.get("/v1/admin/flags", headers=ADMIN)).json()["items"]
    assert [(f["name"], f["enabled"], f["rollout_percent"], f["kill_switch"]) for f in listed] == [
        ("avatar", True, 100, False)
    ]
    changed = await client.patch(
        "/v1/admin/flags/avatar", json={"rollout_percent": 10}, headers=ADMIN
    )
    assert changed.status_code == 200
    assert changed.json()["rollout_percent"] == 10
    assert changed.json()["updated_by"] == "admin-api:alice ops"

    beta = await client.put(
        "/v1/admin/flags/avatar/tenants/acme", json={"state": "beta"}, headers=ADMIN
    )
    assert beta.json()["tenants"] == [
        {"tenant": "acme", "tenant_id": acme.tenant_id, "state": "beta"}
    ]
    mine = (await client.get("/v1/flags", headers=acme.headers)).json()["flags"]["avatar"]
    assert mine["enabled"] is True
    cleared = await client.delete("/v1/admin/flags/avatar/tenants/acme", headers=ADMIN)
    assert cleared.status_code == 204
    again = await client.delete("/v1/admin/flags/avatar/tenants/acme", headers=ADMIN)
    assert again.status_code == 204

    changes = (await client.get("/v1/admin/flags/avatar/changes", headers=ADMIN)).json()["items"]
    assert [c["change"] for c in changes] == [
        {"state": ["beta", None]},
        {"state": [None, "beta"]},
        {"rollout_percent": [100, 10]},
    ]
    assert {c["actor"] for c in changes} == {"admin-api:alice ops"}


async def test_admin_errors_say_what_is_wrong(client: httpx.AsyncClient) -> None:
    cases = [
        ("GET", "/v1/admin/flags/nope", None, 404, "known flags: avatar"),
        ("PATCH", "/v1/admin/flags/avatar", {"rollout_percent": 101}, 422, "rollout_percent"),
        ("PATCH", "/v1/admin/flags/avatar", {"kill": True}, 422, "kill"),
        ("PUT", "/v1/admin/flags/avatar/tenants/ghost", {"state": "on"}, 404, "ghost"),
        ("GET", "/v1/admin/tenants/ghost/usage", None, 404, "ghost"),
    ]
    for method, path, body, status, fragment in cases:
        response = await client.request(method, path, json=body, headers=ADMIN)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert fragment in response.text


async def test_tenant_limits_and_usage_through_the_admin_api(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    limited = await client.put(
        "/v1/admin/tenants/acme/preferences",
        json={"monthly_avatar_session_limit": 1, "monthly_cost_limit_usd": 3},
        headers=ADMIN,
    )
    assert limited.status_code == 200
    assert limited.json()["monthly_avatar_session_limit"] == 1
    # The tenant sees the limit its operator set, and it holds.
    mine = (await client.get("/v1/tenant/preferences", headers=acme.headers)).json()
    assert (mine["monthly_avatar_session_limit"], mine["monthly_cost_limit_usd"]) == (1, 3.0)
    first = await client.post("/v1/conversations", json={"avatar": True}, headers=acme.headers)
    second = await client.post("/v1/conversations", json={"avatar": True}, headers=acme.headers)
    assert first.json()["avatar"]["enabled"] is True
    assert second.json()["avatar"]["reason"] == "quota_exceeded"

    usage = (await client.get("/v1/admin/tenants/acme/usage", headers=ADMIN)).json()
    assert usage["current"]["avatar_sessions"] == 1
    assert usage["remaining"]["avatar_sessions"] == 0
    lifted = await client.put(
        "/v1/admin/tenants/acme/preferences",
        json={"monthly_avatar_session_limit": None},
        headers=ADMIN,
    )
    assert lifted.json()["monthly_avatar_session_limit"] is None
    assert lifted.json()["monthly_cost_limit_usd"] == 3.0
    third = await client.post("/v1/conversations", json={"avatar": True}, headers=acme.headers)
    assert third.json()["avatar"]["enabled"] is True
    names = [
        t["name"] for t in (await client.get("/v1/admin/tenants", headers=ADMIN)).json()["items"]
    ]
    assert names == ["local", "acme"]  # "local": the development tenant


def test_production_refuses_a_short_admin_key() -> None:
    with pytest.raises(ValueError, match="VISAVIS_ADMIN_API_KEY"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            env="production",
            secret_key=TEST_SECRET,
            admin_api_key="short",
        )
