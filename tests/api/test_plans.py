"""Interview plans stored by tenants, and conversations that follow them."""

from __future__ import annotations

import httpx

from tests.conftest import TenantFactory
from tests.conversation.live_client import SHORT_PLAN


async def test_store_list_replace_and_delete_plans(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    created = await client.put(
        "/v1/tenant/interview-plans/barista", json=SHORT_PLAN, headers=acme.headers
    )
    assert created.status_code == 201
    assert created.json()["questions"] == 2 and created.json()["title"] == "Barista screening"
    replaced = await client.put(
        "/v1/tenant/interview-plans/barista",
        json=SHORT_PLAN | {"title": "Barista, second round"},
        headers=acme.headers,
    )
    assert replaced.status_code == 200
    listed = (await client.get("/v1/tenant/interview-plans", headers=acme.headers)).json()
    assert [p["title"] for p in listed["items"]] == ["Barista, second round"]
    one = await client.get("/v1/tenant/interview-plans/barista", headers=acme.headers)
    assert one.json()["plan"]["greeting"] == SHORT_PLAN["greeting"]
    gone = await client.delete("/v1/tenant/interview-plans/barista", headers=acme.headers)
    assert gone.status_code == 204
    missing = await client.get("/v1/tenant/interview-plans/barista", headers=acme.headers)
    assert missing.status_code == 404


async def test_invalid_plans_are_refused_with_what_to_fix(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    bad = await client.put(
        "/v1/tenant/interview-plans/x",
        json=SHORT_PLAN | {"questions": [], "surprise": 1},
        headers=acme.headers,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert "questions" in bad.json()["detail"] and "surprise" in bad.json()["detail"]
    long_term = await client.put(
        "/v1/tenant/interview-plans/x",
        json=SHORT_PLAN | {"vocabulary": ["Zalando", "x" * 61]},
        headers=acme.headers,
    )
    assert long_term.status_code == 422
    assert "vocabulary.1" in long_term.json()["detail"]
    bad_name = await client.put(
        "/v1/tenant/interview-plans/Not A Slug", json=SHORT_PLAN, headers=acme.headers
    )
    assert bad_name.status_code == 422


async def test_conversations_follow_a_stored_plan_of_their_own_tenant(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    other = await make_tenant("other")
    await client.put("/v1/tenant/interview-plans/barista", json=SHORT_PLAN, headers=acme.headers)
    made = await client.post("/v1/conversations", json={"plan": "barista"}, headers=acme.headers)
    assert made.status_code == 201 and made.json()["plan"] == "barista"
    foreign = await client.post(
        "/v1/conversations", json={"plan": "barista"}, headers=other.headers
    )
    assert foreign.status_code == 422
    assert "PUT /v1/tenant/interview-plans/barista" in foreign.json()["detail"]
    wrong_agent = await client.post(
        "/v1/conversations", json={"plan": "barista", "agent": "openai"}, headers=acme.headers
    )
    assert wrong_agent.status_code == 422
    other_sees = await client.get("/v1/tenant/interview-plans/barista", headers=other.headers)
    assert other_sees.status_code == 404
