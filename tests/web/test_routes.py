"""The page routes over HTTP: what is served, with which headers, and what is refused."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.db_support import SqliteTemplate
from visavis.app import create_app
from visavis.config import Settings
from visavis.tenancy import client_tokens

WEB = Path(__file__).resolve().parents[2] / "src" / "visavis" / "web"
HOOKS = (
    "chat-input",
    "send",
    "transcript",
    "avatar",
    "status",
    "toggle-avatar",
    "interrupt",
    "end",
    "quality",
)


def token_for(conversation_id: uuid.UUID, *, ttl_s: int = 600, now: float | None = None) -> str:
    token, _ = client_tokens.mint(
        secret=TEST_SECRET,
        conversation_id=conversation_id,
        tenant_id=uuid.uuid4(),
        key_id=None,
        ttl_s=ttl_s,
        now=now,
    )
    return token


async def test_the_built_in_page_carries_every_hook_and_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for hook in HOOKS:
        assert f'data-testid="{hook}"' in page.text, hook
    assert 'aria-label="AI avatar video"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_a_tenant_conversation_page_opens_with_its_token_and_can_be_embedded(
    client: httpx.AsyncClient,
) -> None:
    conversation = uuid.uuid4()
    page = await client.get(f"/c/{conversation}", params={"token": token_for(conversation)})
    assert page.status_code == 200
    assert 'data-testid="chat-input"' in page.text
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers


@pytest.mark.parametrize("case", ["none", "forged", "other", "expired", "not-a-uuid"])
async def test_a_bad_conversation_link_is_a_clear_404(client: httpx.AsyncClient, case: str) -> None:
    conversation = uuid.uuid4()
    token = {
        "none": "",
        "forged": token_for(conversation)[:-4] + "AAAA",
        "other": token_for(uuid.uuid4()),
        "expired": token_for(conversation, ttl_s=1, now=1_000_000),
        "not-a-uuid": token_for(conversation),
    }[case]
    path = "/c/not-a-conversation" if case == "not-a-uuid" else f"/c/{conversation}"
    answer = await client.get(path, params={"token": token})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "invalid or has expired" in answer.json()["detail"]
    # A person following the link in a browser reads the same in a page.
    browser = await client.get(path, params={"token": token}, headers={"accept": "text/html"})
    assert browser.status_code == 404 and "invalid or has expired" in browser.text
    assert browser.headers["content-type"].startswith("text/html")


async def test_the_built_in_page_is_for_development_only(
    tmp_path: Path, sqlite_template: SqliteTemplate
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=sqlite_template.copy_to(tmp_path),
        env="production",
        secret_key=TEST_SECRET,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http,
    ):
        answer = await http.get("/")
    assert answer.status_code == 404
    assert "development only" in answer.json()["detail"]


async def test_static_files_are_typed_and_nothing_else_is_served(
    client: httpx.AsyncClient,
) -> None:
    script = await client.get("/static/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    style = await client.get("/static/app.css")
    assert style.headers["content-type"].startswith("text/css")
    for path in ("/static/.hidden", "/static/missing.js", "/static/vendor/VERSIONS.py"):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.get("/static/%2e%2e%2fapp.py")).status_code == 404
    assert (await client.get("/static/..%2F..%2Fapp.py")).status_code == 404


async def test_every_module_the_page_imports_is_served(client: httpx.AsyncClient) -> None:
    seen: set[str] = set()
    pending = ["main.js"]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        answer = await client.get(f"/static/{name}")
        assert answer.status_code == 200, name
        pending += re.findall(r'from "\./([\w-]+\.js)"', answer.text)
    assert len(seen) >= 10


async def test_vendored_sdks_match_their_recorded_versions(client: httpx.AsyncClient) -> None:
    versions = json.loads((WEB / "static" / "vendor" / "VERSIONS.json").read_text())
    assert set(versions) == {"livekit-client", "agora-rtc-sdk-ng", "@daily-co/daily-js", "uplot"}
    for package in versions.values():
        for name, digest in package["files"].items():
            answer = await client.get(f"/static/vendor/{name}")
            assert answer.status_code == 200, name
            assert hashlib.sha256(answer.content).hexdigest() == digest, name
            assert "max-age" in answer.headers["cache-control"]
        assert any(name.endswith("LICENSE.txt") for name in package["files"])


def test_every_hook_and_debug_call_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "browser.md").read_text()
    page = (WEB / "index.html").read_text()
    for hook in re.findall(r'data-testid="([\w-]+)"', page):
        assert f"`{hook}`" in docs, f"data-testid {hook!r} is not in docs/browser.md"
    debug_api = (WEB / "static" / "debug-api.js").read_text()
    calls = re.findall(r"^    (\w+)\(\) \{", debug_api, flags=re.MULTILINE)
    assert len(calls) >= 8
    for call in calls:
        assert f"`{call}()`" in docs, f"window.visavis.{call}() is not in docs/browser.md"


async def test_the_admin_console_needs_the_admin_key_configured(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/admin")
    assert answer.status_code == 404
    assert "VISAVIS_ADMIN_API_KEY" in answer.json()["detail"]
    page = await client.get("/admin", headers={"accept": "text/html"})
    assert page.status_code == 404 and "VISAVIS_ADMIN_API_KEY" in page.text


async def test_the_console_pages_are_served_with_a_strict_policy(
    tmp_path: Path, sqlite_template: SqliteTemplate
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=sqlite_template.copy_to(tmp_path),
        env="production",
        secret_key=TEST_SECRET,
        admin_api_key="an-admin-key-long-enough-for-production-0123456789",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http,
    ):
        pages = {path: await http.get(path) for path in ("/admin", "/usage")}
        seen: set[str] = set()
        pending = ["admin-main.js", "usage-main.js"]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            script = await http.get(f"/static/{name}")
            assert script.status_code == 200, name
            pending += re.findall(r'from "\./([\w-]+\.js)"', script.text)
    assert {"console-api.js", "usage-chart.js", "admin-flags.js"} <= seen
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["x-frame-options"] == "DENY"
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy and "img-src 'self' data: https:" in policy
        assert '/static/vendor/uplot.min.js"' in page.text


def test_every_hook_of_the_console_pages_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "admin.md").read_text()
    hooks: set[str] = set()
    for name in ("admin.html", "usage.html"):
        hooks |= set(re.findall(r'data-testid="([\w-]+)"', (WEB / name).read_text()))
    for script in (WEB / "static").glob("*.js"):
        if script.name.startswith(("admin-", "usage-", "console-")):
            hooks |= set(re.findall(r'(?:"data-testid"|testid): "([\w-]+)"', script.read_text()))
    assert len(hooks) >= 20
    for hook in sorted(hooks):
        assert f"`{hook}`" in docs, f"data-testid {hook!r} is not in docs/admin.md"


async def test_the_twin_setup_page_and_its_modules_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/twins/setup")
    assert page.status_code == 200 and 'data-testid="api-key"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "microphone=(self)" in page.headers["permissions-policy"]
    script = await client.get("/static/setup.js")
    for module in re.findall(r'from "\./([\w-]+\.js)"', script.text):
        assert (await client.get(f"/static/{module}")).status_code == 200, module
    assert (await client.get("/static/setup.css")).status_code == 200
