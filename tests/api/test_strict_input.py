"""Strict input at the REST edge: no lax coercion, no text a database cannot store, JSON
recognised whatever the case of its media type, static names that don't exist are 404."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_errors_and_auth import assert_problem
from tests.api.test_plans import SHORT_PLAN
from tests.conftest import TenantFactory

JSON = {"Content-Type": "application/json"}
NUL = "\\u0000"  # as JSON escapes, so the body itself is valid JSON
SURROGATE = "\\ud800"


async def post_raw(
    client: httpx.AsyncClient, path: str, body: str, headers: dict[str, str], method: str = "POST"
) -> httpx.Response:
    return await client.request(method, path, content=body.encode(), headers=headers | JSON)


@pytest.mark.parametrize(
    "body",
    [
        '{"avatar": "yes"}',
        '{"avatar": "true"}',
        '{"avatar": 1}',
        '{"avatar": {"provider": "local", "avatar_id": 5}}',
        '{"agent": true}',
    ],
)
async def test_no_lax_coercion_in_conversation_requests(
    client: httpx.AsyncClient, make_tenant: TenantFactory, body: str
) -> None:
    acme = await make_tenant("acme")
    response = await post_raw(client, "/v1/conversations", body, acme.headers)
    assert_problem(response, 422)
    listed = await client.get("/v1/conversations", headers=acme.headers)
    assert listed.json()["items"] == [], "nothing may be half-created"


@pytest.mark.parametrize(
    "body",
    [
        '{"monthly_avatar_seconds_limit": true}',
        '{"monthly_avatar_session_limit": "5"}',
        '{"avatar_enabled_default": "yes"}',
        '{"avatar_enabled_default": 1}',
        '{"monthly_cost_limit_usd": "2.5"}',
    ],
)
async def test_no_lax_coercion_in_preferences(
    client: httpx.AsyncClient, make_tenant: TenantFactory, body: str
) -> None:
    acme = await make_tenant("acme")
    response = await post_raw(client, "/v1/tenant/preferences", body, acme.headers, "PUT")
    assert_problem(response, 422)
    prefs = (await client.get("/v1/tenant/preferences", headers=acme.headers)).json()
    assert prefs["monthly_avatar_seconds_limit"] is None
    assert prefs["avatar_enabled_default"] is False


async def test_well_typed_values_still_pass(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    put = await client.put(
        "/v1/tenant/preferences",
        json={"monthly_avatar_seconds_limit": 60, "monthly_cost_limit_usd": 3},
        headers=acme.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["monthly_cost_limit_usd"] == 3.0
    made = await client.post("/v1/conversations", json={"avatar": False}, headers=acme.headers)
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/v1/conversations", '{"user_ref": "user-%s-1"}'),
        ("POST", "/v1/conversations", '{"avatar": {"provider": "local", "avatar_id": "a%s"}}'),
        ("PUT", "/v1/tenant/preferences", '{"default_avatar_id": "Wayne%s"}'),
    ],
)
async def test_text_no_database_can_store_is_refused_on_both_engines(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    bad: str,
    method: str,
    path: str,
    template: str,
) -> None:
    acme = await make_tenant("acme")
    response = await post_raw(client, path, template % bad, acme.headers, method)
    body = assert_problem(response, 422)
    detail = str(body["detail"])
    assert ("NUL" in detail) if bad == NUL else ("surrogate" in detail)
    assert (await client.get("/v1/conversations", headers=acme.headers)).json()["items"] == []


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("field", ["greeting", "closing", "title"])
async def test_a_plan_with_unstorable_text_is_refused_and_conversations_stay_whole(
    client: httpx.AsyncClient, make_tenant: TenantFactory, bad: str, field: str
) -> None:
    acme = await make_tenant("acme")
    import json

    plan = json.dumps(SHORT_PLAN | {field: "Hello"}).replace('"Hello"', f'"Hel{bad}lo"')
    response = await post_raw(
        client, "/v1/tenant/interview-plans/poisoned", plan, acme.headers, "PUT"
    )
    assert_problem(response, 422)
    assert (
        await client.get("/v1/tenant/interview-plans/poisoned", headers=acme.headers)
    ).status_code == 404
    # A conversation cannot be put on the refused plan.
    made = await client.post("/v1/conversations", json={"plan": "poisoned"}, headers=acme.headers)
    assert made.status_code in (404, 422)


async def test_a_nul_in_the_url_is_refused_not_looked_up(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    for path in ("/v1/tenant/interview-plans/a%00b", "/v1/conversations?cursor=%00"):
        assert_problem(await client.get(path, headers=acme.headers), 400)


@pytest.mark.parametrize("media_type", ["Application/JSON", "APPLICATION/JSON; charset=utf-8"])
async def test_json_depth_is_checked_whatever_the_case_of_the_media_type(
    client: httpx.AsyncClient, make_tenant: TenantFactory, media_type: str
) -> None:
    acme = await make_tenant("acme")
    deep = '{"user_ref": "x", "avatar": ' + "[" * 40 + "]" * 40 + "}"
    response = await client.post(
        "/v1/conversations",
        content=deep.encode(),
        headers=acme.headers | {"Content-Type": media_type},
    )
    assert assert_problem(response, 422)["code"] == "json_too_deep"
    plain = await client.post(
        "/v1/conversations",
        content=b'{"user_ref": "x"}',
        headers=acme.headers | {"Content-Type": media_type},
    )
    assert plain.status_code == 201, plain.text


@pytest.mark.parametrize(
    "name",
    ["x" * 256 + ".js", "y" * 5000, "app.js" + "z" * 300, "nope.js", ".hidden.js", "main.js.map"],
)
@pytest.mark.parametrize("folder", ["/static/", "/static/vendor/"])
async def test_static_names_that_do_not_exist_are_404_never_500(
    client: httpx.AsyncClient, name: str, folder: str
) -> None:
    response = await client.get(folder + name)
    assert_problem(response, 404)
    assert len(response.text) < 1000


async def test_static_files_that_exist_are_still_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/main.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
