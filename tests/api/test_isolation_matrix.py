"""Every endpoint of the app, called with tenant B's key on tenant A's objects: 404, never data.

The matrix is built by walking ``app.routes``: a new endpoint is covered (or the test says
how to cover it), so none can escape.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Route

from tests.conftest import TEST_SECRET, TenantCredentials, TenantFactory
from tests.voices.audio import reading, room, webm_opus
from visavis.config import Settings
from visavis.context import AppContext
from visavis.db.repositories.transcripts import TranscriptRepository
from visavis.ops.events import record_event
from visavis.speech.encode import wav_bytes
from visavis.tenancy.keys import key_prefix

ADMIN_KEY = "admin-key-for-tests-0123456789abcdefghijklmnop"
# Public documents of the app itself: no tenant data can be in them.
PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz", "/readyz"}


def _tone_wav() -> bytes:
    """Half a second of a quiet tone as a WAV file (an upload for the lip-sync route)."""
    seconds = np.arange(8000) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, 0.1 * np.sin(2 * np.pi * 220 * seconds), 16000, format="WAV")
    return buffer.getvalue()


# Bodies for routes whose body has required fields ({} otherwise).
PLAN: dict[str, Any] = {
    "title": "alpha-plan-marker",
    "role": "Engineer",
    "greeting": "Hello.",
    "questions": [{"text": "Why?"}],
    "closing": "Bye.",
}
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/v1/admin/flags/{name}/tenants/{tenant}"): {"state": "on"},
    ("PUT", "/v1/tenant/interview-plans/{plan_name}"): PLAN | {"title": "beta's own plan"},
    ("POST", "/v1/twins"): {"name": "beta's own twin"},
    ("POST", "/v1/twins/{twin_id}/facts"): {"statement": "beta planted this"},
    ("POST", "/v1/twins/{twin_id}/stories"): {"title": "beta", "text": "beta planted this"},
    ("POST", "/v1/twins/{twin_id}/ask"): {"question": "What is the alpha marker?"},
    ("POST", "/v1/voices"): {"name": "beta's own voice"},
    ("PUT", "/v1/voices/{voice_id}/consent"): {"person_name": "beta", "text": "x" * 30},
    ("POST", "/v1/voices/{voice_id}/clone"): {"backend": "elevenlabs"},
    ("POST", "/v1/webhooks"): {"url": "http://127.0.0.1:9/beta-hook"},
}
# Multipart bodies for routes that take uploads (file parts, then form fields).
FORMS: dict[tuple[str, str], tuple[dict[str, Any], dict[str, str]]] = {
    ("POST", "/v1/lipsync"): (
        {"audio": ("tone.wav", _tone_wav(), "audio/wav")},
        {"dialog": "hello there", "format": "json"},
    ),
}
BODIES[("POST", "/v1/audio/speech")] = {
    "model": "tts-1",
    "input": "Hello.",
    "response_format": "pcm",
}
_SILENCE_WAV = wav_bytes(np.zeros(16000, np.int16))
FORMS[("POST", "/v1/audio/transcriptions")] = (
    {"file": ("silence.wav", _SILENCE_WAV, "audio/wav")},
    {"model": "whisper-1"},
)
# Names that live in each tenant's own namespace: B using one reaches B's own, never A's.
NAMESPACED = {"/v1/tenant/interview-plans/{plan_name}"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        env="development",
        secret_key=TEST_SECRET,
        admin_api_key=ADMIN_KEY,
        # Every admin route refuses B's key with a 401: that is the point here, not an attack
        # to slow down (tests/api/test_auth_backoff.py covers the backoff).
        auth_failures_per_window=0,
    )


def every_route(app: FastAPI) -> Iterator[tuple[str, BaseRoute]]:
    """(path, route) of every endpoint, through included routers too."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included-router contexts: routes are flat
        for route in app.routes:
            yield getattr(route, "path", ""), route
        return
    for context in iter_route_contexts(app.routes):
        yield context.path or "", context.route


class Owner:
    """Tenant A and everything it owns that B might reach."""

    def __init__(
        self,
        tenant: TenantCredentials,
        conversation: dict[str, Any],
        twin: dict[str, str] | None = None,
    ) -> None:
        self.tenant = tenant
        self.conversation = conversation
        self.twin = twin or {}
        self.webhook_id = ""
        self.delivery_id = ""

    @property
    def markers(self) -> list[str]:
        """Strings that only A's data contains."""
        return [
            self.tenant.tenant_id,
            self.tenant.name,
            self.conversation["id"],
            "alpha-user-ref-marker",
            "alpha-transcript-marker",
            "alpha-plan-marker",
            "alpha-twin-marker",
            "alpha-fact-marker",
            "alpha-story-marker",
            "alpha-voice-marker",
            "alpha-consent-marker",
            *self.twin.values(),
            "alpha-webhook-marker",
            "alpha-event-marker",
        ]

    def path_value(self, name: str) -> str:
        values = {
            "conversation_id": self.conversation["id"],
            "tenant": self.tenant.name,
            "plan_name": "alpha-plan",
            **self.twin,
            "endpoint_id": self.webhook_id,
            "delivery_id": self.delivery_id,
            "prefix": key_prefix(self.tenant.key),  # an API key: admin routes only
        }
        values["name"] = "avatar"  # a feature flag: admin routes only
        values["job"] = "latest"  # a voice's cloning job (the voice is A's)
        if name not in values:
            pytest.fail(
                f"unknown path parameter {{{name}}}: teach the isolation matrix which of "
                "tenant A's objects it names"
            )
        return values[name]


async def _owner(client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory) -> Owner:
    alpha = await make_tenant("alpha-tenant-marker")
    created = await client.post(
        "/v1/conversations",
        json={"user_ref": "alpha-user-ref-marker", "avatar": {"provider": "local"}},
        headers=alpha.headers,
    )
    assert created.status_code == 201
    async with ctx.sessions() as session:
        await TranscriptRepository(session, uuid.UUID(alpha.tenant_id)).append(
            conversation_id=uuid.UUID(created.json()["id"]),
            role="user",
            text="alpha-transcript-marker",
        )
        await session.commit()
    stored = await client.put(
        "/v1/tenant/interview-plans/alpha-plan", json=PLAN, headers=alpha.headers
    )
    assert stored.status_code == 201
    twin = await client.post("/v1/twins", json={"name": "alpha-twin-marker"}, headers=alpha.headers)
    twin_id = twin.json()["id"]
    fact = await client.post(
        f"/v1/twins/{twin_id}/facts",
        json={"statement": "alpha-fact-marker", "subject": "alpha"},
        headers=alpha.headers,
    )
    story = await client.post(
        f"/v1/twins/{twin_id}/stories",
        json={"title": "alpha-story-marker", "text": "alpha-story-marker"},
        headers=alpha.headers,
    )
    assert fact.status_code == story.status_code == 201
    voice = await client.post(
        "/v1/voices", json={"name": "alpha-voice-marker"}, headers=alpha.headers
    )
    voice_id = voice.json()["id"]
    sample = await client.post(
        f"/v1/voices/{voice_id}/samples",
        content=webm_opus(room(reading())),
        headers=alpha.headers,
    )
    consent = await client.put(
        f"/v1/voices/{voice_id}/consent",
        json={"person_name": "alpha-consent-marker", "text": "alpha-consent-marker " * 3},
        headers=alpha.headers,
    )
    assert sample.status_code == 201 and consent.status_code == 200
    ids = {
        "twin_id": twin_id,
        "fact_id": fact.json()["id"],
        "story_id": story.json()["id"],
        "voice_id": voice_id,
        "sample_id": sample.json()["id"],
    }
    owner = Owner(alpha, created.json(), ids)
    hook = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/alpha-webhook-marker"},
        headers=alpha.headers,
    )
    assert hook.status_code == 201
    owner.webhook_id = hook.json()["id"]
    async with ctx.sessions() as session:
        await record_event(
            session,
            tenant_id=uuid.UUID(alpha.tenant_id),
            type="conversation_started",
            data={"agent": "alpha-event-marker"},
        )
        await session.commit()
    log = await client.get(f"/v1/webhooks/{owner.webhook_id}/deliveries", headers=alpha.headers)
    owner.delivery_id = log.json()["items"][0]["id"]
    return owner


def _assert_no_data_of(owner: Owner, where: str, text: str) -> None:
    leaked = [m for m in owner.markers if m in text]
    assert leaked == [], f"{where} leaks tenant A's data: {leaked}"


async def _http_case(
    client: httpx.AsyncClient, owner: Owner, beta: TenantCredentials, route: APIRoute, path: str
) -> None:
    params = re.findall(r"{(\w+)(?::\w+)?}", path)
    url = path
    for name in params:
        url = re.sub(rf"{{{name}(?::\w+)?}}", owner.path_value(name), url)
    for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
        body = BODIES.get((method, path), {}) if method in ("POST", "PUT", "PATCH") else None
        if (method, path) in FORMS:
            files, data = FORMS[method, path]
            response = await client.request(
                method, url, files=files, data=data, headers=beta.headers
            )
        else:
            response = await client.request(method, url, json=body, headers=beta.headers)
        where = f"{method} {path}"
        _assert_no_data_of(owner, where, response.text + json.dumps(dict(response.headers)))
        if path.startswith("/v1/admin"):
            assert response.status_code == 401, f"{where}: a tenant key opened the admin API"
        elif path in NAMESPACED:
            assert response.status_code in (200, 201, 204, 404), f"{where}: {response.status_code}"
        elif any(p != "name" for p in params):
            assert response.status_code == 404, f"{where} answered {response.status_code}"
            assert response.headers["content-type"] == "application/problem+json"
        else:
            assert response.status_code < 500, f"{where} answered {response.status_code}"
            assert response.status_code != 422, f"{where}: give it a valid body in BODIES"


async def _websocket_exchange(app: FastAPI, path: str, hello: dict[str, Any]) -> list[Any]:
    """A minimal ASGI WebSocket client: connect, say hello, collect what the server sends."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in (
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": json.dumps(hello)},
    ):
        inbox.put_nowait(message)
    sent: list[Any] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"visavis.test")],
        "client": ("127.0.0.1", 50000),
        "server": ("visavis.test", 80),
        "subprotocols": [],
    }
    await asyncio.wait_for(app(scope, inbox.get, send), timeout=10)
    return sent


async def _websocket_case(
    app: FastAPI, client: httpx.AsyncClient, owner: Owner, beta: TenantCredentials, path: str
) -> None:
    if path != "/v1/conversations/{conversation_id}/ws":
        pytest.fail(f"WebSocket {path}: add its isolation check to this matrix")
    # B's own, genuine client token, used on A's conversation.
    mine = (await client.post("/v1/conversations", json={}, headers=beta.headers)).json()
    token = (
        await client.post(f"/v1/conversations/{mine['id']}/client-token", headers=beta.headers)
    ).json()["token"]
    url = path.replace("{conversation_id}", owner.conversation["id"])
    sent = await _websocket_exchange(app, url, {"type": "hello", "token": token})
    _assert_no_data_of(owner, f"WebSocket {path}", json.dumps(sent))
    closes = [m for m in sent if m["type"] == "websocket.close"]
    assert closes and closes[-1]["code"] in (4401, 4404), sent


async def test_tenant_b_gets_nothing_of_tenant_a_anywhere(
    app: FastAPI, client: httpx.AsyncClient, ctx: AppContext, make_tenant: TenantFactory
) -> None:
    owner = await _owner(client, ctx, make_tenant)
    beta = await make_tenant("beta")
    unseen = await client.get("/v1/tenant/interview-plans/alpha-plan", headers=beta.headers)
    assert unseen.status_code == 404
    covered = 0
    for path, route in every_route(app):
        if path in PUBLIC:
            response = await client.get(path, headers=beta.headers)
            _assert_no_data_of(owner, path, response.text)
        elif isinstance(route, APIRoute):
            await _http_case(client, owner, beta, route, path)
        elif isinstance(route, APIWebSocketRoute):
            await _websocket_case(app, client, owner, beta, path)
        elif isinstance(route, Route):
            pytest.fail(f"{path}: a plain route; add its isolation check to this matrix")
        else:
            pytest.fail(f"{path}: a {type(route).__name__}; add its isolation check here")
        covered += 1
    assert covered >= 25

    # And A's objects are as A left them.
    mine = await client.get(
        f"/v1/conversations/{owner.conversation['id']}", headers=owner.tenant.headers
    )
    assert mine.json()["status"] == "created"
    transcript = await client.get(
        f"/v1/conversations/{owner.conversation['id']}/transcript", headers=owner.tenant.headers
    )
    assert [i["text"] for i in transcript.json()["items"]] == ["alpha-transcript-marker"]
    plan = await client.get("/v1/tenant/interview-plans/alpha-plan", headers=owner.tenant.headers)
    assert plan.json()["title"] == "alpha-plan-marker"
    twin_id = owner.twin["twin_id"]
    twin = await client.get(f"/v1/twins/{twin_id}", headers=owner.tenant.headers)
    assert twin.json()["name"] == "alpha-twin-marker"
    export = await client.get(f"/v1/twins/{twin_id}/memory/export", headers=owner.tenant.headers)
    kept = [json.loads(line) for line in export.text.splitlines()]
    assert [(i["type"], i.get("statement") or i.get("title")) for i in kept] == [
        ("fact", "alpha-fact-marker"),
        ("story", "alpha-story-marker"),
    ]
    asked = await client.get(f"/v1/twins/{twin_id}/queries", headers=owner.tenant.headers)
    assert asked.json()["items"] == []
    voice = await client.get(f"/v1/voices/{owner.twin['voice_id']}", headers=owner.tenant.headers)
    assert [s["id"] for s in voice.json()["samples"]] == [owner.twin["sample_id"]]
    assert voice.json()["consent"]["person_name"] == "alpha-consent-marker"
