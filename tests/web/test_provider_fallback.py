"""A provider avatar whose video cannot connect: the page shows connecting, then degraded,
and the conversation goes on with the local voice (docs/protocol.md, "Provider avatars and
degradation"). LiveAvatar's fake hands out a LiveKit URL that leads nowhere, as a real outage
would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.db_support import SqliteTemplate
from tests.fakes.liveavatar import serve_liveavatar
from tests.fakes.loopback import LoopbackServer
from tests.fakes.tavus import DEFAULT_FACES as TAVUS_FACES
from tests.fakes.tavus import serve_tavus
from tests.web.conftest import PageFactory, start_server
from visavis.cli import app as cli

pytestmark = pytest.mark.browser

LIVEAVATAR_KEY = "test-liveavatar-key"
AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"
# Chromium itself logs the failed connection to the fake's LiveKit host; nothing else may fail.
UNREACHABLE_MEDIA = (r"fake-liveavatar\.livekit\.invalid",)


@pytest.fixture(scope="module")
def liveavatar() -> Iterator[Any]:
    with serve_liveavatar() as fake:
        yield fake


@pytest.fixture(scope="module")
def provider_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: SqliteTemplate, liveavatar: Any
) -> Iterator[tuple[LoopbackServer, str]]:
    """The server, and an API key of a tenant of its own (the page's door opens no provider)."""
    directory: Path = tmp_path_factory.mktemp("web-liveavatar")
    running = start_server(
        directory,
        sqlite_template,
        liveavatar_base_url=liveavatar.base_url,
        liveavatar_api_key=LIVEAVATAR_KEY,
        sweeper_interval_s=3600,
    )
    key = tenant_key(directory)
    yield running, key
    running.stop()


def tenant_key(directory: Path) -> str:
    """An API key of a tenant of its own, in the server's database under ``directory``."""
    database_url = f"sqlite+aiosqlite:///{directory / 'visavis.db'}"  # start_server's copy
    # In a thread of its own: the CLI runs its own event loop, and the browser holds this one.
    with ThreadPoolExecutor(1) as pool:
        created = pool.submit(
            CliRunner().invoke,
            cli,
            ["tenants", "create", "page-tenant"],
            env={"VISAVIS_DATABASE_URL": database_url},
        ).result()
    assert created.exit_code == 0, created.output
    return str(created.stdout.strip())


def liveavatar_conversation(base_url: str, key: str) -> tuple[str, str]:
    """A LiveAvatar conversation created with an API key, and its client token."""
    return api_conversation(base_url, key, {"provider": "liveavatar", "avatar_id": AVATAR})


def api_conversation(base_url: str, key: str, avatar: dict[str, Any]) -> tuple[str, str]:
    """A provider conversation created with an API key (the page's door opens no provider),
    and its client token."""
    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(
        base_url + "/v1/conversations", json={"avatar": avatar}, headers=headers, timeout=30
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["avatar"]["enabled"], body
    minted = httpx.post(
        f"{base_url}/v1/conversations/{body['id']}/client-token", headers=headers, timeout=30
    )
    assert minted.status_code == 200, minted.text
    return body["id"], minted.json()["token"]


def test_unreachable_provider_video_degrades_to_the_local_voice(
    provider_server: tuple[LoopbackServer, str], open_page: PageFactory, liveavatar: Any
) -> None:
    server, key = provider_server
    conversation_id, token = liveavatar_conversation(server.base_url, key)
    watched = open_page(
        f"{server.base_url}/c/{conversation_id}?token={token}", allowed=UNREACHABLE_MEDIA
    )
    page = watched.page
    watched.wait_state("s.degradedReason !== null", 30)
    history: list[str] = page.evaluate("() => window.visavis.statusHistory()")
    assert "connecting" in history and "degraded" in history
    assert history.index("degraded") > history.index("connecting")
    assert page.get_attribute("[data-testid=status]", "data-state") == "degraded"
    assert page.locator("[data-testid=degraded]").is_visible()
    assert page.locator("[data-testid=audio-only]").is_visible()
    assert not page.locator("[data-testid=provider-video]").is_visible()

    # The conversation goes on: the greeting is heard in the local voice, then a reply.
    watched.wait_state("window.visavis.audio().busy", 30)
    page.fill("[data-testid=chat-input]", "I build data pipelines in Python.")
    page.press("[data-testid=chat-input]", "Enter")
    watched.wait_state("window.visavis.turns().length === 1", 30)
    # The degraded notice gives way to the ordinary states; the badge stays.
    watched.wait_state("s.status === 'speaking'", 10)
    assert page.locator("[data-testid=degraded]").is_visible()
    level = 0.0
    for _ in range(20):
        level = max(level, watched.audio()["level"])
        page.wait_for_timeout(25)
    assert level > 0.01
    watched.screenshot("desktop-degraded")
    assert liveavatar.fake.open_sessions() == []  # the provider session was stopped


# --- each provider's media path, up to the SDK call -------------------------------------------
# Joining a real room is not possible here, so the vendored SDK file is served as a stand-in that
# records what the page asks of it (the calls our code makes, with their arguments) and plays a
# video track from a canvas, as the provider's face would.

LIVEKIT_STANDIN = """
(() => {
  const calls = (window.__sdk = { connect: [], published: [] });
  const handlers = {};
  class Room {
    constructor() { this.localParticipant = { publishData: async (bytes, options) => {
      calls.published.push({ text: new TextDecoder().decode(bytes), ...options }); } }; }
    on(event, handler) { (handlers[event] = handlers[event] || []).push(handler); return this; }
    async connect(url, token) {
      calls.connect.push({ url, token });
      const canvas = document.createElement("canvas");
      const context = canvas.getContext("2d");
      setInterval(() => { context.fillStyle = "#456"; context.fillRect(0, 0, 8, 8); }, 50);
      const stream = canvas.captureStream(10);
      const track = { kind: "video", attach: () => {
        const video = document.createElement("video");
        video.muted = true; video.autoplay = true; video.srcObject = stream; return video; } };
      const subscribed = () => (handlers.trackSubscribed || []);
      setTimeout(() => subscribed().forEach((h) => h(track, { kind: "video" })), 10);
    }
    async disconnect() {}
  }
  window.__sdkEmit = (event, ...args) => (handlers[event] || []).forEach((h) => h(...args));
  window.LivekitClient = {
    Room, setLogLevel() {},
    RoomEvent: { TrackSubscribed: "trackSubscribed", Disconnected: "disconnected",
                 DataReceived: "dataReceived",
                 ConnectionQualityChanged: "connectionQualityChanged" },
    VideoQuality: { HIGH: 2, MEDIUM: 1, LOW: 0 },
  };
})();
"""

DAILY_STANDIN = """
(() => {
  const calls = (window.__sdk = { join: [], appMessages: [] });
  const failing = %s;
  window.Daily = { createCallObject: () => {
    const handlers = {};
    return {
      on(event, handler) { (handlers[event] = handlers[event] || []).push(handler); return this; },
      async join(options) {
        calls.join.push(options);
        if (failing) throw new Error("the Daily room could not be joined");
        const canvas = document.createElement("canvas");
        const context = canvas.getContext("2d");
        setInterval(() => { context.fillStyle = "#654"; context.fillRect(0, 0, 8, 8); }, 50);
        const [track] = canvas.captureStream(10).getVideoTracks();
        setTimeout(() => (handlers["track-started"] || []).forEach(
          (h) => h({ participant: { local: false }, track })), 10);
      },
      sendAppMessage(message, to) { calls.appMessages.push({ message, to }); },
      async leave() {},
      destroy() {},
    };
  } };
})();
"""


def tavus_settings(fake: Any) -> dict[str, Any]:
    return {
        "tavus_base_url": fake.base_url,
        "tavus_api_key": "test-tavus-key",
        "tavus_pal_id": "p-echo-fake",
        "sweeper_interval_s": 3600,
    }


def open_with_standin(
    browser: Any,
    base_url: str,
    key: str,
    avatar: dict[str, Any],
    vendor_file: str,
    standin: str,
) -> tuple[Any, Any, list[str]]:
    """The page of a new conversation with ``avatar``, the vendored SDK replaced."""
    conversation_id, token = api_conversation(base_url, key, avatar)
    context = browser.new_context()
    context.route(
        f"**/static/vendor/{vendor_file}",
        lambda route: route.fulfill(body=standin, content_type="text/javascript"),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base_url}/c/{conversation_id}?token={token}")
    return context, page, errors


@pytest.fixture(scope="module")
def tavus() -> Iterator[Any]:
    with serve_tavus() as fake:
        yield fake


def test_liveavatar_full_sentences_are_published_on_the_control_topic(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    liveavatar: Any,
    browser: Any,
) -> None:
    directory = tmp_path_factory.mktemp("web-full")
    running = start_server(
        directory,
        sqlite_template,
        liveavatar_base_url=liveavatar.base_url,
        liveavatar_api_key=LIVEAVATAR_KEY,
        liveavatar_mode="FULL",
        liveavatar_context_id="ctx-interviewer",
        sweeper_interval_s=3600,
    )
    try:
        context, page, errors = open_with_standin(
            browser,
            running.base_url,
            tenant_key(directory),
            {"provider": "liveavatar", "avatar_id": AVATAR},
            "livekit-client.min.js",
            LIVEKIT_STANDIN,
        )
        page.wait_for_function("() => window.__sdk?.published.length >= 2", timeout=30000)
        sdk = page.evaluate("() => window.__sdk")
        (connect,) = sdk["connect"]
        assert connect["url"].startswith("wss://") and connect["token"]
        packets = [json.loads(p["text"]) for p in sdk["published"]]
        assert all(p["topic"] == "agent-control" and p["reliable"] for p in sdk["published"])
        assert {p["event_type"] for p in packets} == {"avatar.speak_text"}
        assert all(p["text"] for p in packets)
        # The face is shown: the page told the server its media is connected.
        page.wait_for_function("() => window.visavis.state().degradedReason === null")
        assert page.locator(".provider-video").count() == 1
        assert errors == []
        context.close()
    finally:
        running.stop()


def test_tavus_joins_the_daily_room_and_relays_app_messages(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    tavus: Any,
    browser: Any,
) -> None:
    directory = tmp_path_factory.mktemp("web-tavus")
    running = start_server(directory, sqlite_template, **tavus_settings(tavus))
    try:
        context, page, errors = open_with_standin(
            browser,
            running.base_url,
            tenant_key(directory),
            {"provider": "tavus", "avatar_id": TAVUS_FACES[0][0]},
            "daily.js",
            DAILY_STANDIN % "false",
        )
        page.wait_for_function("() => window.__sdk?.appMessages.length >= 2", timeout=30000)
        sdk = page.evaluate("() => window.__sdk")
        (join,) = sdk["join"]
        assert join["url"].startswith("https://tavus.daily.co/")
        messages = [m["message"] for m in sdk["appMessages"]]
        assert {m["event_type"] for m in messages} == {"conversation.echo"}
        assert all(m["properties"]["text"] for m in messages)
        assert all(m["to"] == "*" for m in sdk["appMessages"])
        assert errors == []
        context.close()
    finally:
        running.stop()


def test_a_daily_room_that_cannot_be_joined_degrades_to_the_local_voice(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    tavus: Any,
    browser: Any,
) -> None:
    directory = tmp_path_factory.mktemp("web-tavus-down")
    running = start_server(directory, sqlite_template, **tavus_settings(tavus))
    try:
        context, page, errors = open_with_standin(
            browser,
            running.base_url,
            tenant_key(directory),
            {"provider": "tavus", "avatar_id": TAVUS_FACES[0][0]},
            "daily.js",
            DAILY_STANDIN % "true",
        )
        page.wait_for_function(
            "() => window.visavis && window.visavis.state().degradedReason !== null", timeout=30000
        )
        page.wait_for_function("() => window.visavis.audio().busy", timeout=30000)
        assert page.locator("[data-testid=audio-only]").is_visible()
        assert len(page.evaluate("() => window.__sdk.join")) == 1
        assert errors == []
        context.close()
    finally:
        running.stop()
