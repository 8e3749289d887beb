"""The page's microphone in headless Chromium with a fake capture device playing synthesized
speech: the person's spoken answer appears in the transcript and the avatar answers it."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.db_support import SqliteTemplate
from tests.fakes.loopback import LoopbackServer
from tests.speech.stt.conftest import piper_speech, word_errors
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, WatchedPage, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANSWER = "I have worked as a software engineer for five years."
RATE = 16000


def _wav(path: Path, pcm: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def spoken_answer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Silence while the greeting plays, the answer, then silence (played once)."""
    quiet = np.zeros(int(RATE * 9.0), np.int16)
    tail = np.zeros(int(RATE * 20.0), np.int16)
    pcm = np.concatenate([quiet, piper_speech(ANSWER), tail])
    return _wav(tmp_path_factory.mktemp("mic") / "answer.wav", pcm)


@pytest.fixture(scope="module")
def mic_browser(spoken_answer: Path) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={spoken_answer}%noloop",
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: SqliteTemplate
) -> Iterator[LoopbackServer]:
    running = start_server(tmp_path_factory.mktemp("mic-web"), sqlite_template)
    yield running
    running.stop()


def _open(browser: Browser, url: str) -> tuple[WatchedPage, object]:
    context = browser.new_context(viewport=DESKTOP, permissions=["microphone"])  # type: ignore[arg-type]
    page = context.new_page()
    watched = WatchedPage(page)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
    page.goto(url)
    return watched, context


def test_spoken_answer_appears_in_the_transcript_and_is_answered(
    mic_browser: Browser, server: LoopbackServer
) -> None:
    watched, context = _open(mic_browser, server.base_url + "/")
    page = watched.page
    try:
        page.wait_for_function("() => window.visavis?.mic()?.listening === true", timeout=30_000)
        mic = page.evaluate("() => window.visavis.mic()")
        assert mic["accepted"] is True and mic["handsFree"] is True
        assert page.get_attribute("[data-testid=mic]", "aria-pressed") == "true"
        user = page.locator("[data-testid=transcript] [data-role=user]:not([data-partial])")
        user.first.wait_for(timeout=60_000)
        heard = user.first.inner_text().removeprefix("You").strip()
        assert word_errors(ANSWER, heard) <= 2, heard
        # The avatar answers: a second agent entry after the user's, with sound.
        agent = page.locator("[data-testid=transcript] [data-role=agent]")
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=transcript] [data-role=agent]')"
            ".length >= 2",
            timeout=60_000,
        )
        watched.wait_state(
            "window.visavis.turns().length >= 1 || s.conversationState === 'speaking'", 60
        )
        assert agent.count() >= 2
        assert page.evaluate("() => window.visavis.mic().framesSent") > 100
    finally:
        context.close()  # type: ignore[attr-defined]
    assert watched.errors == [], f"console errors: {watched.errors}"


def test_refused_microphone_says_so_and_typing_keeps_working(
    mic_browser: Browser, server: LoopbackServer
) -> None:
    context = mic_browser.new_context(viewport=DESKTOP)
    # The person says no to the browser's microphone prompt.
    context.add_init_script(
        "navigator.mediaDevices.getUserMedia = () => Promise.reject("
        "new DOMException('Permission denied', 'NotAllowedError'));"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(server.base_url + "/")
        page.wait_for_function("() => window.visavis?.mic()?.failure", timeout=30_000)
        failure = page.evaluate("() => window.visavis.mic().failure")
        assert "keep typing" in failure
        assert page.is_disabled("[data-testid=mic]")
        assert "keep typing" in (page.text_content("#mic-hint") or "")
        page.wait_for_function(
            "() => window.visavis.state().conversationState === 'listening'"
            " || window.visavis.state().conversationState === 'speaking'",
            timeout=60_000,
        )
        page.fill("[data-testid=chat-input]", "I type instead.")
        page.press("[data-testid=chat-input]", "Enter")
        page.locator("[data-testid=transcript] [data-role=user]").last.wait_for()
        assert (
            page.locator("[data-testid=transcript] [data-role=user]")
            .last.inner_text()
            .endswith("I type instead.")
        )
    finally:
        context.close()
    assert errors == [], errors
