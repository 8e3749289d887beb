"""The admin console and a tenant's usage page in headless Chromium, against a real server:
sign-in, the usage plots drawn from the database's rows, keys, preferences and flags changed
from the page (checked through the REST API), what is live, the quota display, accessibility."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Route

from tests.api.console_rows import add_conversation, add_fallback, set_month_usage
from tests.db_support import SqliteTemplate
from tests.fakes.liveavatar import serve_liveavatar
from tests.fakes.loopback import LoopbackServer
from tests.web.conftest import PHONE, SCREENSHOTS, PageFactory, WatchedPage, start_server
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy.keys import generate_key

pytestmark = pytest.mark.browser

ADMIN_KEY = "admin-key-for-the-console-page-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
AVATAR = "0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01"
# A refused key is a 401 the browser itself logs; nothing else may reach the console.
REFUSED = (r"status of 401",)
# The avatars' previews live on the provider's image host: served here by the test instead.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class Console:
    server: LoopbackServer
    database_url: str
    keys: dict[str, str]
    ids: dict[str, uuid.UUID]

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, timeout=10)


def in_thread(work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run database work on an event loop of its own (the browser holds this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: SqliteTemplate
) -> Iterator[Console]:
    directory: Path = tmp_path_factory.mktemp("web-console")
    with serve_liveavatar() as liveavatar:
        running = start_server(
            directory,
            sqlite_template,
            admin_api_key=ADMIN_KEY,
            liveavatar_base_url=liveavatar.base_url,
            liveavatar_api_key="test-liveavatar-key",
            sweeper_interval_s=3600,
            webhook_delivery=False,
        )
        database_url = f"sqlite+aiosqlite:///{directory / 'visavis.db'}"
        keys, ids = in_thread(lambda: seed(database_url))
        yield Console(running, database_url, keys, ids)
        running.stop()


async def seed(database_url: str) -> tuple[dict[str, str], dict[str, uuid.UUID]]:
    """Two tenants with keys; acme used the service on three days and has one live talk."""
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    keys, ids = {}, {}
    try:
        async with sessions() as db:
            for name in ("acme", "globex"):
                tenant = await TenantRepository(db).create(name=name)
                key = generate_key()
                await ApiKeyRepository(db).add(tenant_id=tenant.id, key=key)
                keys[name], ids[name] = key.plaintext, tenant.id
            await db.commit()
        now = datetime.now(UTC)
        today = datetime(now.year, now.month, now.day, tzinfo=UTC)
        acme = ids["acme"]
        for days_ago, seconds, cost in ((5, 120.0, 400_000), (2, None, 0), (2, 300.0, 1_000_000)):
            await add_conversation(
                sessions,
                acme,
                today - timedelta(days=days_ago) + timedelta(hours=10),
                avatar_seconds=seconds,
                cost_microusd=cost,
            )
        live = await add_conversation(
            sessions, acme, now, avatar_seconds=0, status="active", instance="vv-a"
        )
        await add_fallback(sessions, acme, live, reason="provider_error", at_ms=12_500)
        await set_month_usage(
            sessions, acme, avatar_sessions=3, avatar_seconds=420, cost_microusd=1_400_000
        )
    finally:
        await engine.dispose()
    return keys, ids


def serve_previews(page: Page) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="image/png", body=PIXEL)

    page.route("https://fake-liveavatar.invalid/**", fulfil)


def sign_in(console: Console, open_page: PageFactory, **options: Any) -> WatchedPage:
    watched = open_page(console.server.base_url + "/admin", **options)
    serve_previews(watched.page)
    watched.page.fill("[data-testid=admin-key]", ADMIN_KEY)
    watched.page.click("[data-testid=sign-in]")
    watched.page.wait_for_selector("body[data-ready=true]")
    return watched


def axe_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in results.response["violations"]
    ]


def test_a_wrong_admin_key_is_refused_with_a_clear_message(
    console: Console, open_page: PageFactory
) -> None:
    watched = open_page(console.server.base_url + "/admin", allowed=REFUSED)
    page = watched.page
    page.fill("[data-testid=admin-key]", "not-the-admin-key")
    page.click("[data-testid=sign-in]")
    error = page.locator("[data-testid=signin-error]")
    error.wait_for()
    assert "admin key was not accepted" in error.inner_text()
    assert page.get_attribute("[data-testid=signin-error]", "role") == "alert"
    assert page.locator("#console").is_hidden()
    assert page.evaluate("() => sessionStorage.getItem('visavis.adminKey')") is None
    watched.screenshot("admin-wrong-key")


def test_the_key_is_kept_for_the_tab_and_a_stale_one_asks_again(
    console: Console, open_page: PageFactory
) -> None:
    watched = sign_in(console, open_page, allowed=REFUSED)
    page = watched.page
    page.reload()
    page.wait_for_selector("body[data-ready=true]")  # still signed in: the tab kept the key
    page.evaluate("() => sessionStorage.setItem('visavis.adminKey', 'a-key-since-rotated')")
    page.reload()
    page.locator("[data-testid=signin-error]").wait_for()
    assert "admin key was not accepted" in page.inner_text("[data-testid=signin-error]")
    assert page.locator("#console").is_hidden()
    assert page.evaluate("() => sessionStorage.getItem('visavis.adminKey')") is None


def test_each_tenant_s_usage_is_plotted_from_its_rows(
    console: Console, open_page: PageFactory
) -> None:
    watched = sign_in(console, open_page)
    page = watched.page
    acme = page.locator("[data-testid=usage-chart][data-tenant=acme]")
    assert acme.get_attribute("data-conversations") == "4"  # 3 ended and the live one
    assert float(acme.get_attribute("data-cost-usd") or 0) == pytest.approx(1.4)
    globex = page.locator("[data-testid=usage-chart][data-tenant=globex]")
    assert globex.get_attribute("data-conversations") == "0"
    # The figures beside the chart: one row per day with usage, the database's numbers.
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    acme.locator("summary").click()
    row = acme.locator(f"tr[data-day='{two_days_ago}'] td")
    assert row.all_inner_texts() == [two_days_ago, "2", "5.0", "$1.00"]
    # The chart is really drawn: the canvas has coloured pixels, and uPlot holds the series.
    drawn = page.evaluate(
        """() => {
          const canvas = document.querySelector('[data-tenant=acme] canvas');
          const {width, height} = canvas;
          const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
          let lit = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) lit++;
          const chart = document.querySelector('[data-tenant=acme]').chart;
          const conversations = chart.data[1].reduce((a, b) => a + b, 0);
          return {lit, days: chart.data[0].length, conversations};
        }"""
    )
    assert drawn["lit"] > 500 and drawn["days"] == 30 and drawn["conversations"] == 4
    page.select_option("[data-testid=usage-days]", "7")
    page.wait_for_function(
        "() => document.querySelector('[data-tenant=acme]').chart.data[0].length === 7"
    )
    watched.screenshot("admin-usage-desktop")


def test_keys_preferences_and_flags_set_from_the_page_change_the_server(
    console: Console, open_page: PageFactory
) -> None:
    watched = sign_in(console, open_page)
    page = watched.page
    page.on("dialog", lambda dialog: dialog.accept())
    page.select_option("[data-testid=tenant-select]", "acme")

    # A new key: shown once, works at once; revoked: refused at once.
    page.click("[data-testid=create-key]")
    new_key = page.locator("[data-testid=new-key]")
    new_key.wait_for()
    key = new_key.input_value()
    prefix = key[:11]
    with console.api() as api:
        assert api.get("/v1/tenant/usage", headers={"Authorization": f"Bearer {key}"}).is_success
        page.click(f"[data-testid=revoke-key][data-prefix='{prefix}']")
        page.wait_for_selector(
            f"[data-testid=revoke-key][data-prefix='{prefix}']", state="detached"
        )
        refused = api.get("/v1/tenant/usage", headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 401

    # Preferences: avatar on by default, a LiveAvatar face picked from the grid, limits.
    page.check("[data-testid=pref-avatar-on]")
    page.click(f".avatar-choice[data-provider=liveavatar][data-avatar='{AVATAR}']")
    page.fill("[data-testid=limit-sessions]", "25")
    page.fill("[data-testid=limit-cost]", "12.5")
    page.click("[data-testid=save-prefs]")
    page.wait_for_selector("[data-testid=prefs-status][data-kind=ok]")
    with console.api() as api:
        prefs = api.get("/v1/admin/tenants/acme/preferences", headers=ADMIN).json()
    assert prefs["avatar_enabled_default"] is True
    assert (prefs["default_provider"], prefs["default_avatar_id"]) == ("liveavatar", AVATAR)
    assert prefs["monthly_avatar_session_limit"] == 25
    assert prefs["monthly_cost_limit_usd"] == 12.5
    assert prefs["monthly_avatar_seconds_limit"] is None

    # A flag: rollout to 30 %, acme in beta; the change log on the page says who and what.
    flag = page.locator("[data-flag=avatar]")
    flag.locator("[data-testid=flag-rollout]").fill("30")
    flag.locator("[data-testid=save-flag]").click()
    page.wait_for_selector("[data-flag=avatar] [data-testid=flag-status][data-kind=ok]")
    flag = page.locator("[data-flag=avatar]")
    flag.locator("[data-testid=flag-tenant]").select_option("acme")
    flag.locator("[data-testid=flag-tenant-state]").select_option("beta")
    flag.locator("[data-testid=add-flag-tenant]").click()
    page.wait_for_selector("[data-flag=avatar] [data-testid=flag-tenants] >> text=acme")
    with console.api() as api:
        avatar_flag = api.get("/v1/admin/flags/avatar", headers=ADMIN).json()
    assert avatar_flag["rollout_percent"] == 30
    assert [(t["tenant"], t["state"]) for t in avatar_flag["tenants"]] == [("acme", "beta")]
    changes = page.locator("[data-flag=avatar] [data-testid=flag-changes] tbody tr")
    newest, older = changes.nth(0).inner_text(), changes.nth(1).inner_text()
    assert "acme" in newest and "beta" in newest and "admin-api" in newest
    assert "rollout_percent" in older and "30" in older


def test_live_conversations_fallbacks_and_webhooks_are_listed(
    console: Console, open_page: PageFactory
) -> None:
    with console.api() as api:
        endpoint = api.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/hooks"},
            headers={"Authorization": f"Bearer {console.keys['globex']}"},
        )
        assert endpoint.status_code == 201, endpoint.text
    watched = sign_in(console, open_page)
    page = watched.page
    live = page.locator("[data-testid=live-conversations] tbody tr")
    assert live.count() == 1 and "vv-a" in live.inner_text() and "acme" in live.inner_text()
    fallback = page.locator("[data-testid=fallbacks] tbody tr")
    assert "provider_error" in fallback.inner_text() and "12.5 s" in fallback.inner_text()
    endpoints = page.locator("[data-testid=webhook-endpoints] tbody tr")
    assert "http://127.0.0.1:9/hooks" in endpoints.inner_text()
    assert "healthy" in endpoints.inner_text()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_console_is_accessible_at_both_sizes(
    console: Console, open_page: PageFactory, size: str
) -> None:
    options: dict[str, Any] = {"viewport": PHONE} if size == "phone" else {}
    signin = open_page(console.server.base_url + "/admin", **options)
    assert axe_violations(signin.page) == []
    signin.screenshot(f"admin-signin-{size}")
    watched = sign_in(console, open_page, **options)
    assert axe_violations(watched.page) == []
    watched.page.screenshot(path=str(SCREENSHOTS / f"admin-console-{size}.png"), full_page=True)


def test_a_tenant_sees_this_month_against_its_limits(
    console: Console, open_page: PageFactory
) -> None:
    with console.api() as api:
        limits = {"monthly_avatar_session_limit": 3, "monthly_cost_limit_usd": 1.5}
        answer = api.put("/v1/admin/tenants/acme/preferences", json=limits, headers=ADMIN)
        assert answer.status_code == 200
    watched = open_page(console.server.base_url + "/usage", allowed=REFUSED)
    page = watched.page
    page.fill("[data-testid=tenant-key]", console.keys["acme"] + "x")
    page.click("[data-testid=sign-in]")
    page.locator("[data-testid=signin-error]").wait_for()
    assert "API key was not accepted" in page.inner_text("[data-testid=signin-error]")

    page.fill("[data-testid=tenant-key]", console.keys["acme"])
    page.click("[data-testid=sign-in]")
    page.wait_for_selector("body[data-ready=true]")
    sessions = page.locator("[data-testid=quota-sessions]")
    assert "3 of 3" in sessions.inner_text() and "limit reached" in sessions.inner_text()
    assert sessions.get_attribute("data-state") == "reached"
    assert page.get_attribute("[data-testid=quota-sessions] meter", "value") == "3"
    assert "7.0 min of no limit" in page.inner_text("[data-testid=quota-seconds]")
    assert page.get_attribute("[data-testid=quota-seconds]", "data-state") == "unlimited"
    assert "$1.40 of $1.50" in page.inner_text("[data-testid=quota-cost]")
    assert page.get_attribute("[data-testid=quota-cost]", "data-state") == "near"
    assert page.get_attribute("[data-testid=usage-chart]", "data-conversations") == "4"
    assert axe_violations(page) == []
    watched.screenshot("usage-desktop")

    phone = open_page(console.server.base_url + "/usage", viewport=PHONE)
    # Signed in for this tab only: a new tab asks again.
    assert phone.page.locator("[data-testid=signin-form]").is_visible()
    phone.page.fill("[data-testid=tenant-key]", console.keys["acme"])
    phone.page.click("[data-testid=sign-in]")
    phone.page.wait_for_selector("body[data-ready=true]")
    assert axe_violations(phone.page) == []
    phone.page.screenshot(path=str(SCREENSHOTS / "usage-phone.png"), full_page=True)
