"""HTTP client of LiveAvatar (HeyGen's real-time avatars): sessions, keep-alive, stop, listing.

Contract: shared/reference/provider-apis.md §1. Two credentials: the API key (``X-API-KEY``)
for everything of the account, and the per-session token (``Authorization: Bearer``) that
``/v1/sessions/start`` insists on. Success is a 2xx whose envelope ``code`` is 100 or 1000;
refusals become typed errors (401 auth, 422 invalid, 429 with Retry-After, credit wording
quota). The LITE-mode WebSocket is :mod:`visavis.avatars.liveavatar.socket`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from visavis.avatars.errors import (
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderSessionStateError,
)
from visavis.avatars.transport import (
    NOT_FOUND_WORDS,
    JSONDict,
    ProviderCallObserver,
    common_refusal,
    decode_json,
    mentions,
    optional_float,
    optional_str,
    path_template,
    require_str,
    send,
)

PROVIDER = "liveavatar"
DEFAULT_BASE_URL = "https://api.liveavatar.com"
SUCCESS_CODES = frozenset({100, 1000})
#: The one avatar sandbox sessions may use.
SANDBOX_AVATAR_ID = "dd73ea75-1218-4ef3-92ce-606d5f7fbc0a"
MAX_PAGE_SIZE = 100

Mode = Literal["FULL", "LITE"]
EndReason = Literal[
    "UNKNOWN",
    "USER_DISCONNECTED",
    "SERVER_ERROR",
    "IDLE_TIMEOUT",
    "NO_CREDITS",
    "USER_CLOSED",
    "AVATAR_DELETED",
    "MAX_DURATION_REACHED",
    "ZOMBIE_SESSION_REAP",
    "AGENT_HANG_UP",
]
STATE_WORDS = ("already", "closed", "stopped", "not active", "ended")


@dataclass(frozen=True, slots=True)
class SessionToken:
    """What ``/v1/sessions/token`` returns: the session and its Bearer token."""

    session_id: str
    session_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class StartedSession:
    """What ``/v1/sessions/start`` returns; ``ws_url`` only in LITE mode."""

    session_id: str
    livekit_url: str
    livekit_client_token: str = field(repr=False)
    livekit_agent_token: str | None = field(default=None, repr=False)
    max_session_duration_s: float | None = None
    ws_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ListedSession:
    """One session of ``GET /v1/sessions``."""

    session_id: str
    mode: str | None
    created_at: datetime | None
    duration_s: float | None = None
    is_sandbox: bool | None = None
    credits_consumed: float | None = None
    end_reason: str | None = None


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset) as an aware datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def liveavatar_error(response: httpx.Response, body: JSONDict | None) -> ProviderError:
    """The typed error for a refusal: by HTTP status, then the envelope's wording."""
    status = response.status_code
    raw_code = body.get("code") if body else None
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    message = ""
    if body:
        detail = body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            where = ".".join(str(part) for part in detail[0].get("loc", []))
            message = f"{where}: {detail[0].get('msg', 'invalid')}"
        for key in ("message", "msg"):
            value = body.get(key)
            if not message and isinstance(value, str) and value:
                message = value
    message = message or f"HTTP {status}"
    kwargs: dict[str, Any] = {"provider": PROVIDER, "status": status, "provider_code": code}
    common = common_refusal(
        response, provider=PROVIDER, message=message, provider_code=code, auth_codes=frozenset()
    )
    if common is not None:
        return common
    if status == 404 or mentions(message, NOT_FOUND_WORDS):
        return ProviderNotFound(message, **kwargs)
    if status == 409 or mentions(message, STATE_WORDS):
        return ProviderSessionStateError(message, **kwargs)
    if status in (400, 422):
        return ProviderInvalidRequest(message, **kwargs)
    if 200 <= status < 300:
        return ProviderProtocolError(f"unexpected answer: {message}", **kwargs)
    return ProviderError(message, **kwargs)


def _listed(item: Mapping[str, Any]) -> ListedSession:
    sandbox = item.get("is_sandbox")
    return ListedSession(
        session_id=require_str(item, "id", provider=PROVIDER, what="GET /v1/sessions"),
        mode=optional_str(item, "mode"),
        created_at=parse_time(item.get("created_at")),
        duration_s=optional_float(item, "duration"),
        is_sandbox=sandbox if isinstance(sandbox, bool) else None,
        credits_consumed=optional_float(item, "credits_consumed"),
        end_reason=optional_str(item, "end_reason"),
    )


class LiveAvatarAPI:
    """Async REST client of LiveAvatar; every call has a timeout; ``aclose`` is idempotent."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        observer: ProviderCallObserver | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("LiveAvatar needs an API key")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._key = {"X-API-KEY": api_key}
        self._client = httpx.AsyncClient(headers={"Accept": "application/json"})
        self._observer = observer
        self._closed = False

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._base_url

    async def create_token(self, body: Mapping[str, Any]) -> SessionToken:
        """Open a session (``POST /v1/sessions/token``, FULL or LITE body)."""
        data = await self._data("POST", "/v1/sessions/token", json_body=body)
        return SessionToken(
            session_id=require_str(data, "session_id", provider=PROVIDER, what="token"),
            session_token=require_str(data, "session_token", provider=PROVIDER, what="token"),
        )

    async def start(self, token: SessionToken) -> StartedSession:
        """Start it (``POST /v1/sessions/start``, with the session token only)."""
        data = await self._data(
            "POST",
            "/v1/sessions/start",
            json_body={"session_id": token.session_id},
            headers={"Authorization": f"Bearer {token.session_token}"},
        )
        return StartedSession(
            session_id=optional_str(data, "session_id") or token.session_id,
            livekit_url=require_str(data, "livekit_url", provider=PROVIDER, what="start"),
            livekit_client_token=require_str(
                data, "livekit_client_token", provider=PROVIDER, what="start"
            ),
            livekit_agent_token=optional_str(data, "livekit_agent_token"),
            max_session_duration_s=optional_float(data, "max_session_duration"),
            ws_url=optional_str(data, "ws_url"),
        )

    async def keep_alive(self, session_id: str) -> None:
        """Reset the idle timer (``POST /v1/sessions/keep-alive``)."""
        await self._data("POST", "/v1/sessions/keep-alive", json_body={"session_id": session_id})

    async def stop(self, session_id: str, *, reason: EndReason = "USER_CLOSED") -> bool:
        """Stop a session (``POST /v1/sessions/stop``); False if it was already over or unknown."""
        try:
            await self._data(
                "POST", "/v1/sessions/stop", json_body={"session_id": session_id, "reason": reason}
            )
        except (ProviderNotFound, ProviderSessionStateError):
            return False
        return True

    async def session(self, session_id: str) -> ListedSession:
        """One session as LiveAvatar reports it (``GET /v1/sessions/{id}``)."""
        return _listed(await self._data("GET", f"/v1/sessions/{session_id}"))

    async def list_sessions(
        self, *, kind: Literal["active", "historic"] = "active", page: int = 1, page_size: int = 100
    ) -> tuple[list[ListedSession], bool]:
        """One page of ``GET /v1/sessions``, and whether a next page exists."""
        params: dict[str, str | int] = {
            "type": kind,
            "page": page,
            "page_size": min(page_size, MAX_PAGE_SIZE),
        }
        data = await self._data("GET", "/v1/sessions", params=params)
        results = data.get("results")
        if not isinstance(results, list):
            raise ProviderProtocolError("GET /v1/sessions: no 'results' list", provider=PROVIDER)
        sessions = [_listed(item) for item in results if isinstance(item, dict)]
        return sessions, bool(data.get("next"))

    async def list_all(
        self, *, kind: Literal["active", "historic"] = "active", max_pages: int = 50
    ) -> list[ListedSession]:
        """Every page of the listing (bounded by ``max_pages``)."""
        sessions: list[ListedSession] = []
        for page in range(1, max_pages + 1):
            found, more = await self.list_sessions(kind=kind, page=page)
            sessions += found
            if not more or not found:
                break
        return sessions

    async def list_avatars(self, *, page_size: int = 100) -> list[JSONDict]:
        """The avatars of the account (``GET /v1/avatars``, first page)."""
        body = await self._body("GET", "/v1/avatars", params={"page_size": page_size})
        data = body.get("data")
        items = data.get("results") if isinstance(data, dict) else data
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def aclose(self) -> None:
        """Close the connection pool; safe to call more than once."""
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def _body(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONDict:
        if self._closed:
            raise ProviderError("the LiveAvatar client is closed", provider=PROVIDER)
        response = await send(
            self._client,
            method,
            self._base_url + path,
            provider=PROVIDER,
            timeout_s=self._timeout_s,
            headers=headers if headers is not None else self._key,
            json_body=json_body,
            params=params,
            observer=self._observer,
            endpoint=path_template(path),
        )
        body = decode_json(response)
        ok = 200 <= response.status_code < 300 and body is not None
        if not ok or body is None or body.get("code") not in SUCCESS_CODES:
            raise liveavatar_error(response, body)
        return body

    async def _data(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONDict:
        body = await self._body(method, path, json_body=json_body, params=params, headers=headers)
        data = body.get("data")
        return data if isinstance(data, dict) else {}
