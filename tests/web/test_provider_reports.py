"""The page's reports from the provider's room, up to the SDK's callbacks: a LiveAvatar FULL
``agent-response`` packet is relayed to the server as ``provider_event``, and LiveKit's
connection quality changes go as ``avatar_quality`` and become ``avatar_quality_changed`` events.

The vendored LiveKit SDK is replaced by the stand-in of ``test_provider_fallback`` (joining a
real room is not possible here); ``window.__sdkEmit`` fires its room events as LiveKit would.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.db_support import SqliteTemplate
from tests.web.conftest import start_server
from tests.web.test_provider_fallback import (
    AVATAR,
    LIVEAVATAR_KEY,
    LIVEKIT_STANDIN,
    api_conversation,
    tenant_key,
)

pytestmark = pytest.mark.browser


def sent_of(frames: list[str], kind: str) -> list[dict[str, Any]]:
    """The page's messages of ``kind`` among the WebSocket frames it sent."""
    messages = [json.loads(f) for f in frames if isinstance(f, str) and f.startswith("{")]
    return [m for m in messages if m.get("type") == kind]


def test_the_page_relays_agent_response_packets_and_quality_changes(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    liveavatar: Any,
    browser: Any,
) -> None:
    directory = tmp_path_factory.mktemp("web-reports")
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
        key = tenant_key(directory)
        conversation_id, token = api_conversation(
            running.base_url, key, {"provider": "liveavatar", "avatar_id": AVATAR}
        )
        context = browser.new_context()
        context.route(
            "**/static/vendor/livekit-client.min.js",
            lambda route: route.fulfill(body=LIVEKIT_STANDIN, content_type="text/javascript"),
        )
        page = context.new_page()
        errors: list[str] = []
        frames: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
        page.goto(f"{running.base_url}/c/{conversation_id}?token={token}")
        page.wait_for_function("() => window.__sdk?.published.length >= 1", timeout=30000)
        page.wait_for_function("() => window.visavis.state().mediaState === 'connected'")
        first = json.loads(page.evaluate("() => window.__sdk.published[0].text"))

        # The avatar starts saying our first sentence: LiveKit hands the page the packet.
        started = {"event_type": "avatar.speak_started", "event_id": first["event_id"]}
        emit = """([text, topic]) => window.__sdkEmit("dataReceived",
            new TextEncoder().encode(text), { identity: "heygen" }, 0, topic)"""
        page.evaluate(emit, [json.dumps(started), "agent-response"])
        page.evaluate(emit, [json.dumps({"event_type": "other"}), "some-other-topic"])
        deadline = time.monotonic() + 10
        while not sent_of(frames, "provider_event") and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        (relayed,) = sent_of(frames, "provider_event")
        assert json.loads(relayed["data"]) == started

        # LiveKit grades the connections: ours, the avatar's, and a stranger's (ignored).
        quality = """([quality, participant]) =>
            window.__sdkEmit("connectionQualityChanged", quality, participant)"""
        page.evaluate(quality, ["excellent", {"isLocal": True, "identity": "me"}])
        page.evaluate(quality, ["lost", {"isLocal": False, "identity": "someone-else"}])
        page.evaluate(quality, ["excellent", {"isLocal": False, "identity": "heygen"}])
        page.evaluate(quality, ["poor", {"isLocal": False, "identity": "heygen"}])
        deadline = time.monotonic() + 10
        while len(sent_of(frames, "avatar_quality")) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        reports = [(m["quality"], m["reason"]) for m in sent_of(frames, "avatar_quality")]
        assert reports == [("excellent", "connection_quality"), ("poor", "connection_quality")]

        # The server made the change an event the tenant can read.
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            answer = httpx.get(
                running.base_url + "/v1/events",
                params={"type": "avatar_quality_changed"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            events = answer.json()["items"]
            page.wait_for_timeout(100)
        (event,) = events
        assert event["conversation_id"] == conversation_id
        assert {k: event["data"][k] for k in ("provider", "from", "to", "reason")} == {
            "provider": "liveavatar",
            "from": "excellent",
            "to": "poor",
            "reason": "connection_quality",
        }
        assert errors == []
        context.close()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def liveavatar() -> Any:
    from tests.fakes.liveavatar import serve_liveavatar

    with serve_liveavatar() as fake:
        yield fake


def test_the_real_daily_sdk_fetches_its_call_machine_from_daily_and_the_page_falls_back(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    browser: Any,
) -> None:
    """The vendored daily.js as shipped (no stand-in): joining loads Daily's call-machine bundle
    from c.daily.co, which no npm package carries. Where that host cannot be reached (here every
    request to it is refused), the join fails and the conversation goes on in the local voice."""
    from tests.fakes.tavus import DEFAULT_FACES, serve_tavus

    with serve_tavus() as tavus:
        directory = tmp_path_factory.mktemp("web-daily-real")
        running = start_server(
            directory,
            sqlite_template,
            tavus_base_url=tavus.base_url,
            tavus_api_key="test-tavus-key",
            tavus_pal_id="p-echo-fake",
            sweeper_interval_s=3600,
        )
        try:
            key = tenant_key(directory)
            conversation_id, token = api_conversation(
                running.base_url, key, {"provider": "tavus", "avatar_id": DEFAULT_FACES[0][0]}
            )
            context = browser.new_context()
            asked: list[str] = []

            def refuse(route: Any) -> None:
                asked.append(route.request.url)
                route.abort()

            # Nothing may leave the machine; the latest route registered is asked first.
            context.route("https://**/*", lambda route: route.abort())
            context.route("https://c.daily.co/**", refuse)
            page = context.new_page()
            errors: list[str] = []
            frames: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("websocket", lambda ws: ws.on("framesent", lambda p: frames.append(p)))
            page.goto(f"{running.base_url}/c/{conversation_id}?token={token}")
            page.wait_for_function(
                "() => window.visavis && window.visavis.state().degradedReason !== null",
                timeout=30000,
            )
            page.wait_for_function("() => window.visavis.audio().busy", timeout=30000)
            assert page.locator("[data-testid=audio-only]").is_visible()
            assert any("/call-machine/" in url and url.endswith(".js") for url in asked), asked
            (failed,) = [m for m in sent_of(frames, "avatar_status") if m["status"] == "failed"]
            assert failed["reason"] in ("connection_failed", "timeout")
            assert tavus.fake.open_sessions() == []  # the provider session was stopped
            context.close()
        finally:
            running.stop()
