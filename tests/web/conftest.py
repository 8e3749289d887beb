"""Headless Chromium (Debian's, never a downloaded one) against a real server on loopback."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.conftest import TEST_SECRET
from tests.db_support import SqliteTemplate
from tests.fakes.loopback import LoopbackServer
from visavis.app import create_app
from visavis.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def start_server(directory: Path, template: SqliteTemplate, **overrides: Any) -> LoopbackServer:
    """A development server on a fresh copy of the migrated SQLite template."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=template.copy_to(directory),
        env="development",
        secret_key=TEST_SECRET,
        **overrides,
    )
    return LoopbackServer(create_app(settings)).start()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: SqliteTemplate
) -> Iterator[LoopbackServer]:
    """One server for a module's tests: its voice loads once."""
    running = start_server(tmp_path_factory.mktemp("web"), sqlite_template)
    yield running
    running.stop()


@dataclass
class WatchedPage:
    """A page and what it said on the console."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate("() => window.visavis.state()")
        return result

    def wait_state(self, condition: str, timeout_s: float = 30) -> None:
        """Wait until ``condition`` (JS over ``s``, the debug state) holds."""
        predicate = f"const s = window.visavis?.state(); return s && ({condition});"
        self.page.wait_for_function(f"() => {{ {predicate} }}", timeout=timeout_s * 1000)

    def audio(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate("() => window.visavis.audio()")
        return result

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


PageFactory = Callable[..., WatchedPage]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[PageFactory]:
    """Open a URL in a fresh context; console errors fail the test unless ``allowed`` matches."""
    opened: list[tuple[WatchedPage, Any, list[re.Pattern[str]]]] = []

    def open_(
        url: str,
        *,
        viewport: dict[str, int] = DESKTOP,
        allowed: tuple[str, ...] = (),
        reduced_motion: str = "no-preference",
    ) -> WatchedPage:
        context = browser.new_context(viewport=viewport, reduced_motion=reduced_motion)  # type: ignore[arg-type]
        page = context.new_page()
        watched = WatchedPage(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watched.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
        opened.append((watched, context, [re.compile(p) for p in allowed]))
        page.goto(url)
        return watched

    yield open_
    unexpected: list[str] = []
    for watched, context, allowed in opened:
        context.close()
        unexpected += [e for e in watched.errors if not any(p.search(e) for p in allowed)]
    assert unexpected == [], f"console errors: {unexpected}"
