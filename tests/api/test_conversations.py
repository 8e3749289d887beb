"""REST v1 conversations: create, read, list, end, transcript, client tokens, isolation."""

from __future__ import annotations

import uuid

import httpx

from tests.api.test_errors_and_auth import assert_problem
from tests.conftest import TenantFactory
from visavis.context import AppContext
from visavis.db.repositories.transcripts import TranscriptRepository
from visavis.tenancy import client_tokens


async def test_create_read_list_end(client: httpx.AsyncClient, make_tenant: TenantFactory) -> None:
    acme = await make_tenant("acme")
    created = await client.post(
        "/v1/conversations", json={"user_ref": "candidate-7"}, headers=acme.headers
    )
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "created"
    assert body["agent"] == "interviewer"
    assert body["avatar"] == {
        "enabled": False,
        "provider": None,
        "avatar_id": None,
        "quality": None,
        "reason": None,
        "detail": None,
    }

    read = await client.get(f"/v1/conversations/{body['id']}", headers=acme.headers)
    assert read.status_code == 200
    assert read.json()["user_ref"] == "candidate-7"

    listed = await client.get("/v1/conversations", headers=acme.headers)
    assert [c["id"] for c in listed.json()["items"]] == [body["id"]]

    ended = await client.post(f"/v1/conversations/{body['id']}/end", headers=acme.headers)
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert ended.json()["ended_at"] is not None
    again = await client.post(f"/v1/conversations/{body['id']}/end", headers=acme.headers)
    assert again.json()["ended_at"] == ended.json()["ended_at"]

    only_active = await client.get("/v1/conversations?status=active", headers=acme.headers)
    assert only_active.json()["items"] == []


async def test_another_tenants_conversation_is_404(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    other = await make_tenant("other")
    created = (await client.post("/v1/conversations", json={}, headers=acme.headers)).json()
    path = f"/v1/conversations/{created['id']}"
    for method, suffix in [
        ("GET", ""),
        ("POST", "/end"),
        ("GET", "/transcript"),
        ("POST", "/client-token"),
    ]:
        response = await client.request(method, path + suffix, headers=other.headers)
        assert response.status_code == 404, (method, suffix)
        assert response.headers["content-type"] == "application/problem+json"
        assert created["id"] not in response.text
    listed = await client.get("/v1/conversations", headers=other.headers)
    assert listed.json()["items"] == []
    # And the owner still sees it, unended.
    mine = await client.get(path, headers=acme.headers)
    assert mine.json()["status"] == "created"


async def test_cursor_pagination_walks_every_conversation_once(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    ids = []
    for n in range(7):
        r = await client.post("/v1/conversations", json={"user_ref": f"u{n}"}, headers=acme.headers)
        ids.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/conversations", params=params, headers=acme.headers)).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))
    bad = await client.get("/v1/conversations?cursor=!!", headers=acme.headers)
    assert bad.status_code == 422


async def test_avatar_true_uses_tenant_defaults_and_reports_why_not(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    local = await client.post("/v1/conversations", json={"avatar": True}, headers=acme.headers)
    assert local.json()["avatar"]["enabled"] is True
    assert local.json()["avatar"]["provider"] == "local"

    await client.put(
        "/v1/tenant/preferences",
        json={"default_provider": "heygen", "default_avatar_id": "Wayne_20240711"},
        headers=acme.headers,
    )
    heygen = await client.post("/v1/conversations", json={"avatar": True}, headers=acme.headers)
    avatar = heygen.json()["avatar"]
    assert avatar["enabled"] is False
    assert avatar["provider"] == "liveavatar"  # heygen, the old name, means LiveAvatar
    assert avatar["reason"] == "provider_not_configured"
    assert "audio-only" in avatar["detail"]

    explicit = await client.post(
        "/v1/conversations",
        json={"avatar": {"provider": "local", "quality": "low"}},
        headers=acme.headers,
    )
    assert explicit.json()["avatar"]["quality"] == "low"


async def test_a_conversation_that_does_not_say_avatar_follows_the_tenant_default(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    before = await client.post("/v1/conversations", json={}, headers=acme.headers)
    assert before.json()["avatar"]["enabled"] is False
    await client.put(
        "/v1/tenant/preferences", json={"avatar_enabled_default": True}, headers=acme.headers
    )
    after = await client.post("/v1/conversations", json={}, headers=acme.headers)
    assert after.json()["avatar"]["enabled"] is True
    assert after.json()["avatar"]["provider"] == "local"
    refused = await client.post("/v1/conversations", json={"avatar": False}, headers=acme.headers)
    assert refused.json()["avatar"]["enabled"] is False


async def test_transcript_is_returned_in_order_with_timings(
    client: httpx.AsyncClient, make_tenant: TenantFactory, ctx: AppContext
) -> None:
    acme = await make_tenant("acme")
    conv = (await client.post("/v1/conversations", json={}, headers=acme.headers)).json()
    async with ctx.sessions() as session:
        repo = TranscriptRepository(session, uuid.UUID(acme.tenant_id))
        await repo.append(conversation_id=uuid.UUID(conv["id"]), role="user", text="Hi")
        await repo.append(
            conversation_id=uuid.UUID(conv["id"]),
            role="agent",
            text="Hello there.",
            actual_start_ms=420,
            duration_ms=900,
            interrupted=True,
        )
        await session.commit()
    items = (
        await client.get(f"/v1/conversations/{conv['id']}/transcript", headers=acme.headers)
    ).json()["items"]
    assert [(i["role"], i["text"]) for i in items] == [("user", "Hi"), ("agent", "Hello there.")]
    assert items[1]["actual_start_ms"] == 420
    assert items[1]["duration_ms"] == 900
    assert items[1]["interrupted"] is True


async def test_client_token_is_scoped_to_one_conversation(
    client: httpx.AsyncClient, make_tenant: TenantFactory, ctx: AppContext
) -> None:
    acme = await make_tenant("acme")
    conv = (await client.post("/v1/conversations", json={}, headers=acme.headers)).json()
    minted = await client.post(f"/v1/conversations/{conv['id']}/client-token", headers=acme.headers)
    assert minted.status_code == 200
    secret = ctx.settings.secret_key.get_secret_value()
    claims = client_tokens.verify(minted.json()["token"], secret=secret)
    assert str(claims.conversation_id) == conv["id"]
    assert str(claims.tenant_id) == acme.tenant_id
    assert minted.json()["expires_at"].endswith("Z")

    await client.post(f"/v1/conversations/{conv['id']}/end", headers=acme.headers)
    refused = await client.post(
        f"/v1/conversations/{conv['id']}/client-token", headers=acme.headers
    )
    assert refused.status_code == 409


async def test_a_conversation_keeps_its_own_end_silence(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    patient = await client.post(
        "/v1/conversations", json={"turn_taking": {"end_silence_ms": 1500}}, headers=acme.headers
    )
    assert patient.status_code == 201, patient.text
    assert patient.json()["turn_taking"] == {"end_silence_ms": 1500}
    read = await client.get(f"/v1/conversations/{patient.json()['id']}", headers=acme.headers)
    assert read.json()["turn_taking"] == {"end_silence_ms": 1500}
    plain = await client.post("/v1/conversations", json={}, headers=acme.headers)
    assert plain.json()["turn_taking"] == {"end_silence_ms": None}, "null: the server's default"

    for bad in (100, 299, 5001, "1500", 1500.0, True):
        response = await client.post(
            "/v1/conversations", json={"turn_taking": {"end_silence_ms": bad}}, headers=acme.headers
        )
        assert "end_silence_ms" in str(assert_problem(response, 422)["detail"]), bad
    unknown = await client.post(
        "/v1/conversations", json={"turn_taking": {"end_silence": 900}}, headers=acme.headers
    )
    assert_problem(unknown, 422)
    listed = await client.get("/v1/conversations", headers=acme.headers)
    assert len(listed.json()["items"]) == 2, "a refused request creates nothing"


async def test_a_conversation_keeps_the_names_its_recognizer_should_expect(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    terms = ["Siobhan Nakamura", "Zalando", "Kubernetes"]
    made = await client.post("/v1/conversations", json={"vocabulary": terms}, headers=acme.headers)
    assert made.status_code == 201, made.text
    assert made.json()["vocabulary"] == terms
    read = await client.get(f"/v1/conversations/{made.json()['id']}", headers=acme.headers)
    assert read.json()["vocabulary"] == terms
    plain = await client.post("/v1/conversations", json={}, headers=acme.headers)
    assert plain.json()["vocabulary"] == []

    for bad in (
        ["x" * 61],
        [""],
        [f"term {n}" for n in range(51)],
        "Siobhan, Zalando",
        [5],
        ["nul\x00inside"],
    ):
        response = await client.post(
            "/v1/conversations", json={"vocabulary": bad}, headers=acme.headers
        )
        assert "vocabulary" in str(assert_problem(response, 422)["detail"]), bad
    listed = await client.get("/v1/conversations", headers=acme.headers)
    assert len(listed.json()["items"]) == 2, "a refused request creates nothing"
