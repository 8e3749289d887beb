"""The browser client: the built-in page, a tenant's conversation page, and their files.

``/`` is the built-in interview (development only: it opens conversations through the local
door); ``/c/{conversation_id}?token=…`` is a conversation a tenant's backend created, opened
with its client token; ``/admin`` is the operator's console and ``/usage`` a tenant's usage
page (docs/admin.md); ``/twins/setup`` sets up a twin with the tenant's API key (docs/twins.md);
``/static/…`` are the pages' ES modules, stylesheets and vendored
libraries (docs/browser.md). The pages hold no tenant data: the token is checked here so
a bad link fails clearly, and again by the WebSocket.
"""

from __future__ import annotations

import functools
import html
import uuid
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from visavis.api.deps import ContextDep
from visavis.api.problems import problem
from visavis.db.tenant_scope import scope_to_tenant
from visavis.tenancy import client_tokens

router = APIRouter(include_in_schema=False)

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"

_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
# Where provider SDKs fetch from besides their WebSockets (LiveKit Cloud region settings;
# Agora's gateways, configuration and statistics; Daily's room API).
_PROVIDER_ORIGINS = (
    "https://*.livekit.cloud https://*.agora.io https://*.sd-rtn.com https://*.daily.co"
)
# Daily's call object runs its call machine from Daily's CDN (no npm package carries it, so it
# cannot be vendored); loaded as a script element (``avoidEval``), never through eval.
_DAILY_CALL_MACHINE = "https://c.daily.co"
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def content_security_policy(*, frame_ancestors: str) -> str:
    """The pages' CSP: our own scripts only; media and sockets of the avatar providers."""
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {_DAILY_CALL_MACHINE}",
            # Provider SDKs size their video elements with inline styles.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' wss: {_PROVIDER_ORIGINS}",
            "worker-src 'self' blob:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


def _page_headers(*, embeddable: bool) -> dict[str, str]:
    headers = {
        **_COMMON_HEADERS,
        "Content-Security-Policy": content_security_policy(
            frame_ancestors="*" if embeddable else "'none'"
        ),
        "Permissions-Policy": "camera=(), geolocation=(), microphone=(self), autoplay=(self)",
        "Cache-Control": "no-store",
    }
    if not embeddable:
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return headers


def _page(*, embeddable: bool) -> Response:
    return FileResponse(
        WEB_ROOT / "index.html",
        media_type="text/html; charset=utf-8",
        headers=_page_headers(embeddable=embeddable),
    )


def console_security_policy() -> str:
    """The console pages' CSP: our own scripts, calls to this server only; avatar previews
    may come from a provider's image host."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",  # the chart library sizes its parts inline
            "img-src 'self' data: https:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _console_page(name: str) -> Response:
    headers = {
        **_COMMON_HEADERS,
        "Content-Security-Policy": console_security_policy(),
        "Permissions-Policy": "camera=(), geolocation=(), microphone=()",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    return FileResponse(WEB_ROOT / name, media_type="text/html; charset=utf-8", headers=headers)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _not_found(request: Request, detail: str, *, code: str) -> Response:
    """A 404 a person can read in a browser; a problem document for everyone else."""
    if not _wants_html(request):
        return problem(404, detail, code=code)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Visavis — not found</title>"
        '<link rel="stylesheet" href="/static/app.css"></head>'
        '<body><main class="error-page"><h1>This page is not available</h1>'
        f"<p>{html.escape(detail)}</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=404, headers=_page_headers(embeddable=True))


@router.get("/")
async def built_in_page(request: Request, ctx: ContextDep) -> Response:
    """The built-in interview page (development only)."""
    if ctx.settings.env != "development":
        return _not_found(
            request,
            "the built-in page is served in development only; conversations created by your "
            "backend open at /c/{conversation_id}?token=… (see docs/browser.md)",
            code="page_development_only",
        )
    return _page(embeddable=False)


@router.get("/c/{conversation_id}")
async def conversation_page(
    conversation_id: str, request: Request, ctx: ContextDep, token: str = ""
) -> Response:
    """A tenant's conversation, opened with the client token its backend minted."""
    invalid = (
        "this conversation link is invalid or has expired: ask the application that gave it "
        "to you for a new one"
    )
    try:
        wanted = uuid.UUID(conversation_id)
    except ValueError:
        return _not_found(request, invalid, code="invalid_link")
    try:
        claims = client_tokens.verify(token, secret=ctx.settings.secret_key.get_secret_value())
    except client_tokens.InvalidClientToken:
        return _not_found(request, invalid, code="invalid_link")
    if claims.conversation_id != wanted:
        return _not_found(request, invalid, code="invalid_link")
    async with ctx.sessions() as db:
        await scope_to_tenant(db, claims.tenant_id, switch_role=ctx.settings.database_rls)
        try:
            await client_tokens.ensure_key_active(db, claims)
        except client_tokens.RevokedClientToken:
            return _not_found(request, invalid, code="invalid_link")
    return _page(embeddable=True)


@router.get("/admin")
async def admin_console(request: Request, ctx: ContextDep) -> Response:
    """The operator's console; it signs in with the admin key (``VISAVIS_ADMIN_API_KEY``)."""
    if ctx.settings.admin_api_key is None:
        return _not_found(
            request,
            "the admin console needs VISAVIS_ADMIN_API_KEY to be set on the server "
            "(see docs/admin.md)",
            code="admin_disabled",
        )
    return _console_page("admin.html")


@router.get("/usage")
async def tenant_usage_page() -> Response:
    """A tenant's usage this month against its limits; it signs in with the tenant's API key."""
    return _console_page("usage.html")


@router.get("/twins/setup")
async def twin_setup_page() -> Response:
    """The twin setup page: it holds no data and asks for the tenant's API key (docs/twins.md)."""
    return FileResponse(
        WEB_ROOT / "setup.html",
        media_type="text/html; charset=utf-8",
        headers=_page_headers(embeddable=False),
    )


@functools.cache
def _files_in(folder: Path) -> frozenset[str]:
    """The servable files of a folder of the installed package (it never changes)."""
    try:
        return frozenset(
            entry.name
            for entry in folder.iterdir()
            if entry.is_file() and not entry.name.startswith(".")
        )
    except OSError:
        return frozenset()


def _static(folder: Path, name: str, request: Request, *, cache: str) -> Response:
    # Only names the folder holds reach the file system: no path tricks, no over-long names.
    suffix = Path(name).suffix if len(name) <= 255 else ""
    if suffix not in _STATIC_TYPES or name not in _files_in(folder):
        shown = name if len(name) <= 80 else name[:77] + "..."
        return _not_found(request, f"no such file: {shown}", code="no_such_file")
    headers = {**_COMMON_HEADERS, "Cache-Control": cache}
    return FileResponse(folder / name, media_type=_STATIC_TYPES[suffix], headers=headers)


@router.get("/static/{name}")
async def static_file(name: str, request: Request) -> Response:
    """The page's own modules, stylesheet and icon (revalidated on every load)."""
    return _static(WEB_ROOT / "static", name, request, cache="no-cache")


@router.get("/static/vendor/{name}")
async def vendor_file(name: str, request: Request) -> Response:
    """Vendored provider SDKs and their licenses (versioned by the refresh script)."""
    return _static(WEB_ROOT / "static" / "vendor", name, request, cache="public, max-age=86400")
