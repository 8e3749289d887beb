"""Every error is problem+json a person can act on; no input produces a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantFactory


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert isinstance(body["detail"], str) and len(body["detail"]) > 5
    return body


async def test_missing_malformed_invalid_and_revoked_keys_are_401(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    assert "Bearer" in str(assert_problem(await client.get("/v1/conversations"), 401)["detail"])
    for header in ["Basic abc", "Bearer", f"Token {acme.key}", "Bearer vv_" + "x" * 40]:
        response = await client.get("/v1/conversations", headers={"Authorization": header})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    ok = await client.get("/v1/conversations", headers=acme.headers)
    assert ok.status_code == 200
    # A key that differs from a real one only after the prefix is refused.
    forged = acme.key[:-4] + ("AAAA" if not acme.key.endswith("AAAA") else "BBBB")
    assert_problem(
        await client.get("/v1/conversations", headers={"Authorization": f"Bearer {forged}"}), 401
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "JSON"),
        (b'{"agent": 5}', "agent"),
        (b'{"surprise": 1}', "surprise"),
        (b'{"avatar": {"provider": "nope"}}', "provider"),
        (b'{"avatar": {"provider": "local", "extra": 1}}', "extra"),
        (b'{"agent": "nobody"}', "unknown agent"),
        (b'{"user_ref": "' + b"x" * 300 + b'"}', "user_ref"),
        (b"[1, 2]", "dict"),
    ],
)
async def test_bad_bodies_are_422_with_a_useful_message(
    client: httpx.AsyncClient, make_tenant: TenantFactory, body: bytes, fragment: str
) -> None:
    acme = await make_tenant("acme")
    response = await client.post(
        "/v1/conversations",
        content=body,
        headers=acme.headers | {"Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert fragment.lower() in str(problem["detail"]).lower()


async def test_oversized_and_too_deep_bodies(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    huge = b'{"user_ref": "' + b"x" * (1024 * 1024) + b'"}'
    assert_problem(
        await client.post(
            "/v1/conversations",
            content=huge,
            headers=acme.headers | {"Content-Type": "application/json"},
        ),
        413,
    )
    deep = b"[" * 100 + b"]" * 100
    body = assert_problem(
        await client.post(
            "/v1/conversations",
            content=deep,
            headers=acme.headers | {"Content-Type": "application/json"},
        ),
        422,
    )
    assert "deeper" in str(body["detail"])


async def test_unknown_ids_routes_and_methods(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    assert_problem(await client.get("/v1/conversations/not-a-uuid", headers=acme.headers), 422)
    assert_problem(
        await client.get(
            "/v1/conversations/01a20068-78f0-7bdb-92f5-893f5225db7a", headers=acme.headers
        ),
        404,
    )
    assert_problem(await client.get("/v1/nothing-here"), 404)
    assert_problem(await client.delete("/v1/conversations", headers=acme.headers), 405)


async def test_preferences_round_trip_and_validation(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    initial = (await client.get("/v1/tenant/preferences", headers=acme.headers)).json()
    assert initial["monthly_avatar_session_limit"] is None
    assert initial["default_provider"] == "local"
    updated = await client.put(
        "/v1/tenant/preferences",
        json={"monthly_avatar_session_limit": 100, "monthly_cost_limit_usd": 12.5},
        headers=acme.headers,
    )
    assert updated.status_code == 200
    assert updated.json()["monthly_cost_limit_usd"] == 12.5
    again = (await client.get("/v1/tenant/preferences", headers=acme.headers)).json()
    assert again["monthly_avatar_session_limit"] == 100
    cleared = await client.put(
        "/v1/tenant/preferences", json={"monthly_avatar_session_limit": None}, headers=acme.headers
    )
    assert cleared.json()["monthly_avatar_session_limit"] is None
    assert cleared.json()["monthly_cost_limit_usd"] == 12.5
    assert_problem(
        await client.put(
            "/v1/tenant/preferences",
            json={"monthly_avatar_session_limit": -1},
            headers=acme.headers,
        ),
        422,
    )


async def test_local_page_door_only_from_loopback_in_development(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/v1/local/conversations", json={"avatar": True})
    assert created.status_code == 201
    assert created.json()["token"].startswith("v1.")
    assert created.json()["conversation"]["avatar"]["provider"] == "local"
