"""The development page's loopback door opens only the local avatar: no paid session
without an API key."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_errors_and_auth import assert_problem
from visavis.context import AppContext


@pytest.mark.parametrize("provider", ["heygen", "akool"])
async def test_a_provider_avatar_through_the_local_door_is_refused(
    client: httpx.AsyncClient, provider: str
) -> None:
    response = await client.post(
        "/v1/local/conversations", json={"avatar": {"provider": provider, "avatar_id": "W"}}
    )
    body = assert_problem(response, 403)
    assert body["code"] == "provider_needs_api_key"
    assert "API key" in str(body["detail"])


async def test_the_tenant_default_through_the_door_is_the_local_avatar(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    async with ctx.sessions() as session:
        from visavis.db.repositories.tenants import TenantRepository

        tenant = await TenantRepository(session).find_by_name("local")
        assert tenant is not None
        await TenantRepository(session).update_preferences(
            tenant.id, {"default_provider": "heygen", "avatar_enabled_default": True}
        )
        await session.commit()
    response = await client.post("/v1/local/conversations", json={"avatar": True})
    assert response.status_code == 201, response.text
    avatar = response.json()["conversation"]["avatar"]
    assert avatar["provider"] in ("local", None)
    no_avatar = await client.post("/v1/local/conversations", json={})
    assert no_avatar.status_code == 201
