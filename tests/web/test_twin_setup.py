"""The twin setup page in headless Chromium, with a fake microphone reading aloud and the fake
ElevenLabs: key, twin, five recordings (one too short, recorded again), consent, memory (a
broken import refused, a good one taken), cloning followed to the end, then a conversation
with the twin, who answers from its memory in its cloned voice."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import TEST_SECRET
from tests.db_support import SqliteTemplate
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.loopback import LoopbackServer
from tests.live_server import RunningServer, TenantCredentials
from tests.voices.audio import hardly_pausing, room, wav
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SCREENSHOTS, WatchedPage
from visavis.app import create_app
from visavis.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GOOD = b'{"type": "fact", "statement": "My cat is called Pastel.", "subject": "pet"}\n'
BROKEN = b'{"type": "fact", "statement": "ok"}\n{"statement": \n'
SAMPLE_S = 11


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Someone reading aloud in a quiet room, hardly pausing (the fake device loops it)."""
    path = tmp_path_factory.mktemp("setup-mic") / "reading.wav"
    path.write_bytes(wav(np.clip(room(hardly_pausing()), -1, 1)))
    return path


@pytest.fixture(scope="module")
def mic_browser(microphone: Path) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def elevenlabs() -> Iterator[tuple[FakeElevenLabs, str]]:
    fake = FakeElevenLabs()
    with fake.serve() as url:
        yield fake, url


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    elevenlabs: tuple[FakeElevenLabs, str],
) -> Iterator[tuple[RunningServer, TenantCredentials]]:
    fake, url = elevenlabs
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=sqlite_template.copy_to(tmp_path_factory.mktemp("setup-web")),
        env="development",
        secret_key=TEST_SECRET,
        elevenlabs_api_key=fake.api_key,
        elevenlabs_base_url=url,
    )
    app = create_app(settings)
    loopback = LoopbackServer(app).start()
    running = RunningServer(app, loopback)
    # Playwright's sync API runs a loop in this thread: the tenant is written from another.
    with ThreadPoolExecutor(1) as pool:
        tenant = pool.submit(asyncio.run, running.tenant("acme")).result()
    yield running, tenant
    loopback.stop()


def sample_state(page: Page, n: int) -> str:
    return str(page.get_attribute(f"[data-testid=sample-{n}]", "data-state"))


def record(page: Page, n: int, *, stop_after_s: float | None = None) -> None:
    page.click(f"[data-testid=record-{n}]")
    page.wait_for_selector(f"[data-testid=sample-{n}][data-state=recording]", timeout=10_000)
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=level]').dataset.level) > 0.2",
        timeout=5_000,
    )  # the meter moves with the voice
    if stop_after_s is not None:
        page.wait_for_timeout(stop_after_s * 1000)
        page.click(f"[data-testid=stop-{n}]")
    page.wait_for_selector(
        f"[data-testid=sample-{n}]:is([data-state=usable], [data-state=unusable])",
        timeout=(SAMPLE_S + 30) * 1000,
    )


def test_a_twin_is_set_up_in_the_page_and_then_talked_to(
    mic_browser: Browser,
    server: tuple[RunningServer, TenantCredentials],
    elevenlabs: tuple[FakeElevenLabs, str],
    tmp_path: Path,
) -> None:
    running, tenant = server
    fake, _ = elevenlabs
    context = mic_browser.new_context(viewport=DESKTOP, permissions=["microphone"])  # type: ignore[arg-type]
    watched = WatchedPage(context.new_page())
    page = watched.page
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
    try:
        page.goto(f"{running.base_url}/twins/setup?sample_s={SAMPLE_S}&countdown_s=1")
        page.fill("[data-testid=api-key]", "vsk_not_a_key")
        page.click("[data-testid=key-connect]")
        page.wait_for_selector("[data-testid=key-status][data-kind=error]")
        assert page.is_hidden("#step-twin")
        page.fill("[data-testid=api-key]", tenant.key)
        page.click("[data-testid=key-connect]")
        page.wait_for_selector("[data-testid=key-status][data-kind=ok]")

        page.fill("[data-testid=twin-name]", "Maya Okafor")
        page.fill("[data-testid=twin-bio]", "Designer of hospital robots in Lisbon.")
        page.fill("[data-testid=twin-style]", "warm, brief")
        page.click("[data-testid=twin-save]")
        page.wait_for_selector("[data-testid=twin-status][data-kind=ok]")
        page.wait_for_selector("[data-testid=sample-5]")

        # Too short: refused with a reason, nothing kept; recorded again.
        record(page, 1, stop_after_s=2.5)
        assert sample_state(page, 1) == "unusable"
        problem = page.locator("[data-testid=sample-1] [data-code=too_short]")
        assert "speak for about 30 s" in problem.inner_text()
        record(page, 1)
        assert sample_state(page, 1) == "usable", page.inner_text("[data-testid=sample-1]")
        assert "Record again" in page.inner_text("[data-testid=record-1]")

        page.click("[data-testid=clone-start]")  # too early: says what is missing
        page.wait_for_selector("[data-testid=clone-status][data-kind=error]")
        assert "consent" in page.inner_text("[data-testid=clone-status]")
        for n in range(2, 6):
            record(page, n)
            assert sample_state(page, n) == "usable", page.inner_text(f"[data-testid=sample-{n}]")

        page.fill("[data-testid=consent-name]", "Maya Okafor")
        page.check("[data-testid=consent-agree]")
        page.click("[data-testid=consent-save]")
        page.wait_for_selector("[data-testid=consent-status][data-kind=ok]")

        page.fill("[data-testid=fact-text]", "I drink my coffee black, three cups a day.")
        page.click("[data-testid=fact-add]")
        page.wait_for_selector("[data-testid=memory-status]:has-text('fact was added')")
        page.fill("[data-testid=story-title]", "The first robot")
        page.fill("[data-testid=story-text]", "My first robot carried medicine and got lost.")
        page.click("[data-testid=story-add]")
        page.wait_for_selector("[data-testid=memory-status]:has-text('story was added')")
        broken = tmp_path / "broken.jsonl"
        broken.write_bytes(BROKEN)
        page.set_input_files("[data-testid=import-file]", str(broken))
        page.click("[data-testid=import-start]")
        page.wait_for_selector("[data-testid=memory-errors] li:has-text('Line 2')")
        good = tmp_path / "facts.jsonl"
        good.write_bytes(GOOD)
        page.set_input_files("[data-testid=import-file]", str(good))
        page.click("[data-testid=import-start]")
        page.wait_for_selector("[data-testid=memory-status]:has-text('Imported 1 facts')")
        assert page.locator("[data-testid=memory-errors] li").count() == 0

        fake.add_delay_s = 0.5
        page.click("[data-testid=clone-start]")
        page.wait_for_selector(
            "[data-testid=clone-status]:is([data-status=ready], [data-status=failed])",
            timeout=30_000,
        )
        status = page.inner_text("[data-testid=clone-status]")
        assert page.get_attribute("[data-testid=clone-status]", "data-status") == "ready", (
            status + page.inner_text("[data-testid=samples]")
        )
        assert (
            page.evaluate("() => document.querySelector('[data-testid=clone-progress]').value") == 1
        )
        assert len(fake.voices) == 1 and next(iter(fake.voices.values()))["files"] == 5

        violations = [
            f"{v['id']}: {[n['target'] for n in v['nodes']]}"
            for v in Axe().run(page).response["violations"]
        ]
        assert violations == [], violations
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "twin-setup.png"), full_page=True)

        # The fake microphone reads on and on: typed questions only in the conversation.
        page.evaluate("() => localStorage.setItem('visavis.mic', 'off')")
        page.click("[data-testid=talk-start]")
        page.wait_for_selector("[data-testid=talk-frame]:not([hidden])")
        frame = page.frame_locator("[data-testid=talk-frame]")
        frame.locator("[data-testid=status][data-state=listening]").wait_for(timeout=30_000)
        frame.locator("[data-testid=chat-input]").fill("What is your cat called?")
        frame.locator("[data-testid=send]").click()
        answer = frame.locator("[data-testid=transcript] [data-role=agent]", has_text="Pastel")
        try:
            answer.first.wait_for(timeout=30_000)
        except Exception:
            raise AssertionError(frame.locator("body").inner_text()) from None
        assert any("Pastel" in said for said in fake.spoken)  # in the cloned voice
    finally:
        context.close()
    # The refusals the test provoked (a wrong key, a short sample, an early clone, a broken
    # import) are logged by the browser itself; nothing else may be.
    refused = re.compile(r"Failed to load resource: .* (401|422) ")
    unexpected = [e for e in watched.errors if not refused.search(e)]
    assert unexpected == [], f"console errors: {unexpected}"
