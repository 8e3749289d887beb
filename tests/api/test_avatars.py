"""``GET /v1/avatars``: every configured provider's avatars, cached briefly, against the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import TenantFactory
from tests.fakes.akool import AkoolServer, serve_akool
from tests.fakes.liveavatar import LiveAvatarServer, serve_liveavatar
from visavis.app import create_app
from visavis.config import Settings

ADMIN_KEY = "admin-key-for-avatar-tests-0123456789abcdef"


@pytest.fixture(scope="module")
def liveavatar() -> Iterator[LiveAvatarServer]:
    with serve_liveavatar() as server:
        yield server


@pytest.fixture(scope="module")
def akool() -> Iterator[AkoolServer]:
    with serve_akool() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, liveavatar: LiveAvatarServer, akool: AkoolServer) -> Settings:
    liveavatar.fake.reset()
    akool.fake.reset()
    return settings.model_copy(
        update={
            "liveavatar_base_url": liveavatar.base_url,
            "liveavatar_api_key": SecretStr("test-liveavatar-key"),
            "akool_base_url": akool.base_url,
            "akool_api_key": SecretStr("test-akool-key"),
            "sweeper_interval_s": 3600,
            "admin_api_key": SecretStr(ADMIN_KEY),
        }
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_every_configured_provider_lists_its_avatars(
    client: httpx.AsyncClient, make_tenant: TenantFactory, liveavatar: LiveAvatarServer
) -> None:
    acme = await make_tenant("acme")
    answer = await client.get("/v1/avatars", headers=acme.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unavailable"] == []
    by_provider = {(a["provider"], a["id"]) for a in body["avatars"]}
    assert ("liveavatar", "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01") in by_provider
    assert ("akool", "dvp_Tristan_cloth2_1080P") in by_provider
    first = next(a for a in body["avatars"] if a["provider"] == "liveavatar")
    assert first["name"] and first["preview_url"].startswith("https://")
    # Cached: a second call does not ask the provider again.
    again = await client.get("/v1/avatars?provider=liveavatar", headers=acme.headers)
    assert {a["provider"] for a in again.json()["avatars"]} == {"liveavatar"}
    assert len(liveavatar.fake.requests("/v1/avatars")) == 1
    old_name = await client.get("/v1/avatars?provider=heygen", headers=acme.headers)
    assert old_name.json() == again.json()


async def test_a_failing_provider_is_reported_and_hides_no_other(
    client: httpx.AsyncClient, make_tenant: TenantFactory, akool: AkoolServer
) -> None:
    acme = await make_tenant("acme")
    akool.configure(fail_next=5, fault_paths=["avatar/list"])
    answer = await client.get("/v1/avatars", headers=acme.headers)
    body = answer.json()
    assert {a["provider"] for a in body["avatars"]} == {"liveavatar"}
    assert [u["provider"] for u in body["unavailable"]] == ["akool"]
    only = await client.get("/v1/avatars?provider=akool", headers=acme.headers)
    assert only.status_code == 503
    assert only.headers["content-type"].startswith("application/problem+json")
    assert "akool" in only.json()["detail"]


async def test_unknown_providers_and_missing_keys_are_refused(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    unknown = await client.get("/v1/avatars?provider=simli", headers=acme.headers)
    assert unknown.status_code == 404
    assert "providers with one: liveavatar, akool" in unknown.json()["detail"]
    assert (await client.get("/v1/avatars")).status_code == 401


async def test_the_admin_console_lists_the_same_catalogue(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    tenant_view = (await client.get("/v1/avatars", headers=acme.headers)).json()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    answer = await client.get("/v1/admin/avatars", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json() == tenant_view
    assert {a["provider"] for a in answer.json()["avatars"]} == {"liveavatar", "akool"}
    one = await client.get("/v1/admin/avatars?provider=akool", headers=admin)
    assert {a["provider"] for a in one.json()["avatars"]} == {"akool"}
    unknown = await client.get("/v1/admin/avatars?provider=nobody", headers=admin)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/admin/avatars", headers=acme.headers)).status_code == 401
