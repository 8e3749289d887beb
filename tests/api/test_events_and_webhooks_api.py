"""``GET /v1/events`` and ``/v1/webhooks``: pages, filters, isolation, problems a person can fix."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import TEST_SECRET, TenantFactory
from tests.live_server import TenantCredentials
from visavis.config import Settings
from visavis.context import AppContext
from visavis.ops.events import record_event
from visavis.ops.webhook_signing import SECRET_PREFIX

ADMIN_KEY = "test-admin-key-0123456789-abcdefghijklmnop"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        admin_api_key=ADMIN_KEY,
        webhook_delivery=False,
    )


async def _events(ctx: AppContext, tenant: TenantCredentials, types: list[str]) -> list[str]:
    ids = []
    for kind in types:
        async with ctx.sessions() as session:
            data = {"reason": "completed"} if kind == "conversation_ended" else {"agent": "x"}
            event = await record_event(
                session, tenant_id=uuid.UUID(tenant.tenant_id), type=kind, data=data
            )
            await session.commit()
            ids.append(str(event.id))
    return ids


async def test_events_page_by_cursor_and_filter_by_type_and_time(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    acme, other = await make_tenant("acme"), await make_tenant("other")
    types = ["conversation_started", "conversation_ended"] * 3
    ids = await _events(ctx, acme, types)
    await _events(ctx, other, ["conversation_started"])

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, str | int] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/events", params=params, headers=acme.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not page["items"]:
            break
    assert seen == ids  # oldest first, each once, none of the other tenant's
    assert cursor is not None  # an empty page still gives a cursor to poll from

    ended = await client.get(
        "/v1/events", params={"type": "conversation_ended"}, headers=acme.headers
    )
    assert [i["data"]["reason"] for i in ended.json()["items"]] == ["completed"] * 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get("/v1/events", params={"since": future}, headers=acme.headers)).json()[
        "items"
    ] == []
    everything = await client.get("/v1/events", params={"until": future}, headers=acme.headers)
    assert len(everything.json()["items"]) == 6


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"type": "nope"}, "unknown event type 'nope'"),
        ({"since": "2026-01-01T00:00:00"}, "needs a time zone"),
        ({"cursor": "!!!"}, "invalid cursor"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_bad_event_queries_are_problems(
    client: httpx.AsyncClient, make_tenant: TenantFactory, params: dict[str, str], fragment: str
) -> None:
    acme = await make_tenant("acme")
    response = await client.get("/v1/events", params=params, headers=acme.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in str(response.json())


async def test_webhook_endpoints_lifecycle_and_isolation(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme, other = await make_tenant("acme"), await make_tenant("other")
    created = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["avatar_fallback"]},
        headers=acme.headers,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith(SECRET_PREFIX) and endpoint["enabled"] is True
    path = f"/v1/webhooks/{endpoint['id']}"

    listed = (await client.get("/v1/webhooks", headers=acme.headers)).json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
    assert (await client.get(path, headers=other.headers)).status_code == 404
    assert (await client.delete(path, headers=other.headers)).status_code == 404

    changed = await client.patch(
        path, json={"all_event_types": True, "enabled": False}, headers=acme.headers
    )
    assert changed.json()["event_types"] is None and changed.json()["enabled"] is False
    enabled = await client.patch(path, json={"enabled": True}, headers=acme.headers)
    assert enabled.json()["enabled"] is True and enabled.json()["disabled_reason"] is None

    log = await client.get(f"{path}/deliveries", headers=acme.headers)
    assert log.status_code == 200 and log.json()["items"] == []
    missing = await client.get(f"{path}/deliveries/{uuid.uuid4()}/attempts", headers=acme.headers)
    assert missing.status_code == 404

    admin = await client.get("/v1/admin/webhooks", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert [(e["tenant"], e["pending"]) for e in admin.json()["items"]] == [("acme", 0)]

    assert (await client.delete(path, headers=acme.headers)).status_code == 204
    assert (await client.get(path, headers=acme.headers)).status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "ftp://example.com/x"}, "absolute http:// or https:// URL"),
        ({"url": "https://example.com/x", "event_types": ["nope"]}, "unknown event types nope"),
        ({"url": "https://example.com/x", "event_types": []}, "at least one event type"),
    ],
)
async def test_bad_endpoints_are_refused_with_a_reason(
    client: httpx.AsyncClient, make_tenant: TenantFactory, body: dict[str, object], fragment: str
) -> None:
    acme = await make_tenant("acme")
    response = await client.post("/v1/webhooks", json=body, headers=acme.headers)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]


async def test_a_delivery_log_shows_each_attempt(
    client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    from tests.fakes.webhook_receiver import Receiver, serve_receiver
    from tests.ops.test_webhooks import FAST, Instance

    acme = await make_tenant("acme")
    hook = Receiver(fail_rate=1.0)
    with serve_receiver(hook) as url:
        created = (
            await client.post("/v1/webhooks", json={"url": url}, headers=acme.headers)
        ).json()
        hook.secret = created["secret"]
        await _events(ctx, acme, ["conversation_started"])
        instance = Instance(ctx.settings.database_url, FAST)
        instance.dispatcher.start()
        try:
            for _ in range(200):
                if len(hook.snapshot()) >= 2:
                    break
                await asyncio.sleep(0.05)
            hook.fail_rate = 0.0
            for _ in range(200):
                if hook.accepted_ids():
                    break
                await asyncio.sleep(0.05)
        finally:
            await instance.aclose()
    path = f"/v1/webhooks/{created['id']}/deliveries"
    delivery = (await client.get(path, headers=acme.headers)).json()["items"][0]
    assert delivery["status"] == "delivered" and delivery["attempts"] >= 3
    attempts = (await client.get(f"{path}/{delivery['id']}/attempts", headers=acme.headers)).json()[
        "items"
    ]
    assert [a["status_code"] for a in attempts][-1] == 200
    assert {a["status_code"] for a in attempts[:-1]} == {503}
    assert len(attempts) == delivery["attempts"]
