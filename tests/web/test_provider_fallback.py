"""A provider avatar whose video cannot connect: the page shows connecting, then degraded,
and the conversation goes on with the local voice (docs/protocol.md, "Provider avatars and
degradation"). LiveAvatar's fake hands out a LiveKit URL that leads nowhere, as a real outage
would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.db_support import SqliteTemplate
from tests.fakes.liveavatar import serve_liveavatar
from tests.fakes.loopback import LoopbackServer
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
    database_url = f"sqlite+aiosqlite:///{directory / 'visavis.db'}"  # start_server's copy
    created = CliRunner().invoke(
        cli, ["tenants", "create", "liveavatar-page"], env={"VISAVIS_DATABASE_URL": database_url}
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    yield running, key
    running.stop()


def liveavatar_conversation(base_url: str, key: str) -> tuple[str, str]:
    """A LiveAvatar conversation created with an API key, and its client token."""
    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(
        base_url + "/v1/conversations",
        json={"avatar": {"provider": "liveavatar", "avatar_id": AVATAR}},
        headers=headers,
        timeout=30,
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
