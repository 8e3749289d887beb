"""The built-in page in headless Chromium: an interview turn, interruption, the avatar toggle,
shortcuts, reconnection, accessibility and the two layouts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser

from tests.fakes.loopback import LoopbackServer
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    SCREENSHOTS,
    PageFactory,
    WatchedPage,
)

pytestmark = pytest.mark.browser

ANSWER = "I am a backend engineer; I have built Python services for five years."


def mouths_while(watched: WatchedPage, seconds: float) -> set[str]:
    """The mouth shapes the avatar shows over ``seconds`` (sampled every 20 ms)."""
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(watched.page.get_attribute("[data-testid=avatar]", "data-mouth") or "")
        watched.page.wait_for_timeout(20)
    return seen


def loudest(watched: WatchedPage, seconds: float) -> float:
    """The loudest output level heard over ``seconds``."""
    level = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        level = max(level, watched.audio()["level"])
        watched.page.wait_for_timeout(25)
    return level


def greeting_heard(watched: WatchedPage) -> None:
    watched.wait_state("s.conversationState === 'speaking' && window.visavis.audio().busy", 60)


def test_a_full_interview_turn(server: LoopbackServer, open_page: PageFactory) -> None:
    watched = open_page(server.base_url + "/")
    page = watched.page
    greeting_heard(watched)
    agent = page.locator("[data-testid=transcript] [data-role=agent]")
    assert agent.first.inner_text() != ""  # the greeting's sentences appear as they are heard

    page.fill("[data-testid=chat-input]", ANSWER)
    page.press("[data-testid=chat-input]", "Enter")
    user = page.locator("[data-testid=transcript] [data-role=user]")
    assert user.last.inner_text().endswith(ANSWER)
    assert page.input_value("[data-testid=chat-input]") == ""

    # The reply: sound comes out and the mouth moves with it.
    watched.wait_state("window.visavis.turns().length === 1", 30)
    assert loudest(watched, 1.0) > 0.01
    shapes = mouths_while(watched, 2.0)
    assert len(shapes - {"X"}) >= 3, shapes
    assert page.get_attribute("[data-testid=status]", "data-state") in ("speaking", "listening")

    # After it: the reply is in the transcript, the mouth rests, silence.
    watched.wait_state("s.conversationState === 'listening' && !window.visavis.audio().busy", 60)
    page.wait_for_timeout(200)
    assert page.get_attribute("[data-testid=avatar]", "data-mouth") == "X"
    assert watched.audio()["level"] == 0
    assert agent.count() == 2 and len(agent.last.inner_text()) > 20
    assert page.get_attribute("[data-testid=status]", "data-state") == "listening"
    errors = sorted(abs(c["errorMs"]) for c in page.evaluate("() => window.visavis.mouthChanges()"))
    assert errors and errors[len(errors) // 2] < 17  # the mouth moves with the sound
    # Every P/B/M closure heard is seen, even one shorter than a display frame (the greeting
    # typed over is silenced: its closures not heard yet are not shown).
    closures = page.evaluate("() => window.visavis.closures()")
    heard = closures["received"] - closures["silenced"]
    assert heard >= 3 and closures["shown"] >= heard, closures
    watched.screenshot("desktop")


def test_interrupt_stops_the_audio_at_once(server: LoopbackServer, open_page: PageFactory) -> None:
    watched = open_page(server.base_url + "/")
    greeting_heard(watched)
    assert loudest(watched, 0.5) > 0.01
    watched.page.click("[data-testid=interrupt]")
    watched.page.wait_for_timeout(150)
    assert not watched.audio()["busy"]
    assert loudest(watched, 0.5) == 0
    assert watched.page.get_attribute("[data-testid=avatar]", "data-mouth") == "X"
    watched.wait_state("s.conversationState === 'listening'", 10)
    entry = watched.page.locator("[data-testid=transcript] [data-role=agent]").last
    watched.page.wait_for_function(
        "() => document.querySelector('[data-role=agent][data-interrupted=true]') !== null"
    )
    assert "(interrupted)" in entry.inner_text()
    # Each closure received was shown or silenced with the rest of the greeting.
    closures = watched.page.evaluate("() => window.visavis.closures()")
    assert closures["shown"] + closures["silenced"] == closures["received"], closures


def test_avatar_toggles_off_and_on(server: LoopbackServer, open_page: PageFactory) -> None:
    watched = open_page(server.base_url + "/")
    page = watched.page
    watched.wait_state("s.connection === 'open'")
    avatar = page.locator("[data-testid=avatar]")
    toggle = page.locator("[data-testid=toggle-avatar]")
    assert avatar.is_visible() and toggle.get_attribute("aria-pressed") == "true"

    toggle.click()
    watched.wait_state("s.avatarMode === 'audio'")
    assert not avatar.is_visible()
    assert page.locator("[data-testid=audio-only]").is_visible()
    assert toggle.get_attribute("aria-pressed") == "false"

    toggle.click()
    watched.wait_state("s.avatarMode === 'local'")
    assert avatar.is_visible() and toggle.get_attribute("aria-pressed") == "true"


def test_shortcuts(server: LoopbackServer, open_page: PageFactory) -> None:
    watched = open_page(server.base_url + "/")
    page = watched.page
    greeting_heard(watched)
    page.keyboard.press("Escape")
    watched.wait_state("!window.visavis.audio().busy && s.conversationState === 'listening'", 10)

    page.keyboard.press("Alt+v")
    watched.wait_state("s.avatarMode === 'audio'")
    page.keyboard.press("Alt+v")
    watched.wait_state("s.avatarMode === 'local'")

    quality = page.locator("[data-testid=quality]")
    seen = [quality.input_value()]
    for _ in range(4):
        page.keyboard.press("Alt+q")
        seen.append(quality.input_value())
    assert seen == ["auto", "high", "medium", "low", "auto"]


def test_a_dropped_connection_resumes_the_conversation(
    server: LoopbackServer, open_page: PageFactory
) -> None:
    watched = open_page(server.base_url + "/")
    page = watched.page
    greeting_heard(watched)
    page.fill("[data-testid=chat-input]", ANSWER)
    page.click("[data-testid=send]")
    watched.wait_state("window.visavis.turns().length === 1", 30)
    page.keyboard.press("Escape")
    watched.wait_state("s.conversationState === 'listening'", 10)
    # The reply's line (what was heard of it) is shown once stored, which may come after.
    lines = "[data-testid=transcript] [data-role]"
    page.wait_for_function(f"() => document.querySelectorAll('{lines}').length === 3")
    before = page.locator(lines).all_inner_texts()

    page.evaluate("() => window.visavis.dropConnection()")
    assert page.get_attribute("[data-testid=status]", "data-state") == "reconnecting"
    watched.wait_state("s.connection === 'open' && s.conversationState === 'listening'", 15)
    after = page.locator("[data-testid=transcript] [data-role]").all_inner_texts()
    assert [t.split("\n")[0] for t in after] == [t.split("\n")[0] for t in before]
    assert ANSWER in "\n".join(after)

    # And the conversation goes on over the new connection.
    page.fill("[data-testid=chat-input]", "I led the migration of our billing system.")
    page.click("[data-testid=send]")
    watched.wait_state("window.visavis.turns().length === 2", 30)


@pytest.mark.parametrize("layout", ["desktop", "phone"])
def test_accessibility_and_layout(
    server: LoopbackServer, open_page: PageFactory, layout: str
) -> None:
    viewport = PHONE if layout == "phone" else {"width": 1280, "height": 800}
    watched = open_page(server.base_url + "/", viewport=viewport)
    page = watched.page
    greeting_heard(watched)
    page.keyboard.press("Escape")
    watched.wait_state("s.conversationState === 'listening'", 10)

    results = Axe().run(page)
    violations = [
        f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in results.response["violations"]
    ]
    assert violations == [], violations

    region = page.get_by_role("region", name="AI avatar video")
    assert region.is_visible()
    assert page.get_attribute("[data-testid=status]", "aria-live") == "polite"
    for testid in ("send", "interrupt", "end", "toggle-avatar", "quality", "mic", "mute"):
        box = page.locator(f"[data-testid={testid}]").bounding_box()
        assert box is not None and box["width"] >= 48 and box["height"] >= 48, (testid, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, testid
    # Keyboard focus is visible: the focused control gets an outline.
    page.focus("[data-testid=send]")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    path: Path = watched.screenshot(layout if layout == "phone" else "desktop-listening")
    assert path.stat().st_size > 10_000


def test_reduced_motion_keeps_the_head_still(
    server: LoopbackServer, open_page: PageFactory
) -> None:
    watched = open_page(server.base_url + "/", reduced_motion="reduce")
    watched.wait_state("s.connection === 'open'")
    transforms = set()
    for _ in range(10):
        transforms.add(
            watched.page.evaluate("() => document.querySelector('.face-head').style.transform")
        )
        watched.page.wait_for_timeout(100)
    assert len(transforms) == 1, transforms


def test_nine_distinct_mouth_shapes(server: LoopbackServer, open_page: PageFactory) -> None:
    watched = open_page(server.base_url + "/", reduced_motion="reduce")
    page = watched.page
    watched.wait_state("s.connection === 'open'")
    page.evaluate(
        """async () => {
          const { Face } = await import("/static/face.js");
          const strip = document.createElement("div");
          strip.id = "shapes";
          Object.assign(strip.style, {
            position: "fixed", left: "0", top: "0", zIndex: "10",
            display: "flex", flexWrap: "wrap", width: "1000px",
            background: "#18283a",
          });
          document.body.append(strip);
          for (const shape of ["X", "A", "B", "C", "D", "E", "F", "G", "H"]) {
            const cell = document.createElement("div");
            cell.dataset.shape = shape;
            Object.assign(cell.style, { width: "200px", height: "200px", position: "relative" });
            strip.append(cell);
            const face = new Face(cell, { reducedMotion: true });
            face.setTarget(shape);
            face.render(0, 1000);
          }
        }"""
    )
    pictures = {}
    for shape in "XABCDEFGH":
        cell = page.locator(f"#shapes [data-shape={shape}]")
        # The mouth only: the lower middle of the face.
        box = cell.bounding_box()
        assert box is not None
        clip = {"x": box["x"] + 70, "y": box["y"] + 116, "width": 60, "height": 40}
        pictures[shape] = page.screenshot(clip=clip)
    assert len(set(pictures.values())) == 9  # every shape looks different
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#shapes").screenshot(path=str(SCREENSHOTS / "mouth-shapes.png"))


def test_without_autoplay_the_page_asks_for_a_click_first(
    server: LoopbackServer, browser: Browser
) -> None:
    strict = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[a for a in CHROMIUM_ARGS if not a.startswith("--autoplay-policy")],
    )
    try:
        page = strict.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.base_url + "/")
        start = page.locator("[data-testid=start]")
        start.wait_for(state="visible")
        assert page.get_attribute("[data-testid=status]", "data-state") == "starting"
        assert page.evaluate("() => window.visavis.state().connection") == "idle"
        start.click()
        page.wait_for_function(
            "() => window.visavis.audio().running && window.visavis.audio().busy", timeout=60_000
        )
        assert not start.is_visible()
        assert errors == []
    finally:
        strict.close()
