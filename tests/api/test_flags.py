"""``GET /v1/flags``: what a client of the calling tenant may show."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import TenantFactory
from visavis.context import AppContext
from visavis.tenancy import flags


async def test_flags_follow_overrides_rollout_and_kill_switch(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    other = await make_tenant("other")
    default = await client.get("/v1/flags", headers=acme.headers)
    assert default.status_code == 200
    assert default.json() == {
        "flags": {"avatar": {"enabled": True, "reason": None, "detail": None}}
    }

    async with ctx.sessions() as session:
        await flags.update_flag(session, "avatar", actor="test", rollout_percent=0)
        await flags.set_tenant_state(
            session, "avatar", uuid.UUID(acme.tenant_id), "beta", actor="test"
        )
        await session.commit()
    assert ctx.flags is not None
    ctx.flags.invalidate()
    assert (await client.get("/v1/flags", headers=acme.headers)).json()["flags"]["avatar"][
        "enabled"
    ]
    theirs = (await client.get("/v1/flags", headers=other.headers)).json()["flags"]["avatar"]
    assert (theirs["enabled"], theirs["reason"]) == (False, "not_in_rollout")
    # A conversation asking for an avatar follows the same answer.
    created = await client.post("/v1/conversations", json={"avatar": True}, headers=other.headers)
    assert created.json()["avatar"]["reason"] == "not_in_rollout"
    assert "audio-only" in created.json()["avatar"]["detail"]

    async with ctx.sessions() as session:
        await flags.update_flag(session, "avatar", actor="test", kill_switch=True)
        await session.commit()
    ctx.flags.invalidate()
    killed = (await client.get("/v1/flags", headers=acme.headers)).json()["flags"]["avatar"]
    assert (killed["enabled"], killed["reason"]) == (False, "kill_switch")


async def test_flags_need_an_api_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/flags")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
