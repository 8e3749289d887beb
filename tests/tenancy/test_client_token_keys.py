"""A client token dies with the API key that minted it."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from tests.conftest import TEST_SECRET, TenantFactory
from visavis.context import AppContext
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.tenancy import client_tokens
from visavis.tenancy.keys import key_prefix


async def _mint_through_rest(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    made = await client.post("/v1/conversations", json={}, headers=headers)
    assert made.status_code == 201, made.text
    conversation_id = made.json()["id"]
    minted = await client.post(f"/v1/conversations/{conversation_id}/client-token", headers=headers)
    assert minted.status_code == 200, minted.text
    return conversation_id, minted.json()["token"]


async def _ensure(ctx: AppContext, claims: client_tokens.ClientTokenClaims) -> None:
    async with ctx.sessions() as db:
        await scope_to_tenant(db, claims.tenant_id, switch_role=ctx.settings.database_rls)
        await client_tokens.ensure_key_active(db, claims)


async def test_a_token_names_its_key_and_is_refused_once_the_key_is_revoked(
    client: httpx.AsyncClient, make_tenant: TenantFactory, ctx: AppContext
) -> None:
    acme = await make_tenant("acme")
    conversation_id, token = await _mint_through_rest(client, acme.headers)
    claims = client_tokens.verify(token, secret=TEST_SECRET)
    assert claims.key_id is not None
    await _ensure(ctx, claims)  # the key is active: no error
    page = await client.get(f"/c/{conversation_id}", params={"token": token})
    assert page.status_code == 200

    async with ctx.sessions() as db:
        await ApiKeyRepository(db).revoke(key_prefix(acme.key))
        await db.commit()

    with pytest.raises(client_tokens.RevokedClientToken) as refused:
        await _ensure(ctx, claims)
    assert refused.value.code == "client_token_revoked"
    assert isinstance(refused.value, client_tokens.InvalidClientToken)
    page = await client.get(f"/c/{conversation_id}", params={"token": token})
    assert page.status_code == 404


async def test_a_key_of_another_tenant_does_not_keep_a_token_alive(
    client: httpx.AsyncClient, make_tenant: TenantFactory, ctx: AppContext
) -> None:
    acme = await make_tenant("acme")
    other = await make_tenant("other")
    _, token = await _mint_through_rest(client, other.headers)
    other_key = client_tokens.verify(token, secret=TEST_SECRET).key_id
    forged, _ = client_tokens.mint(
        secret=TEST_SECRET,
        conversation_id=uuid.uuid4(),
        tenant_id=uuid.UUID(acme.tenant_id),
        key_id=other_key,
        ttl_s=60,
    )
    with pytest.raises(client_tokens.RevokedClientToken):
        await _ensure(ctx, client_tokens.verify(forged, secret=TEST_SECRET))


def test_a_token_without_its_key_claim_is_refused() -> None:
    token, _ = client_tokens.mint(
        secret=TEST_SECRET,
        conversation_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
        ttl_s=60,
    )
    _, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    del claims["k"]
    stripped = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    resigned = f"v1.{stripped}.{client_tokens._signature(TEST_SECRET, stripped)}"
    with pytest.raises(client_tokens.InvalidClientToken):
        client_tokens.verify(resigned, secret=TEST_SECRET)
