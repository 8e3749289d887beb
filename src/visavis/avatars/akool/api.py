"""HTTP client of Akool Live Avatar (``/api/open/v4/liveAvatar/*``).

Contract: shared/reference/provider-apis.md §2. Every answer is ``{code, msg, data}``
and ``code != 1000`` is a failure whatever the HTTP status. Auth is ``x-api-key``, or
a Bearer token from ``/api/open/v3/getToken`` that is fetched lazily and refreshed
once when Akool answers 1101 (invalid or expired).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from visavis.avatars.errors import (
    ProviderBusy,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderNotReady,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderRefused,
    ProviderSessionFailed,
    ProviderTimeout,
)
from visavis.avatars.transport import (
    NOT_FOUND_WORDS,
    JSONDict,
    ProviderCallObserver,
    common_refusal,
    decode_json,
    mentions,
    optional_int,
    optional_str,
    require_str,
    send,
)

PROVIDER = "akool"
DEFAULT_BASE_URL = "https://openapi.akool.com"
SUCCESS = 1000
TOKEN_INVALID = 1101  # invalid or expired authorization
TOKEN_EMPTY = 1102
ACCOUNT_BANNED = 1200
AUTH_CODES = frozenset({TOKEN_INVALID, TOKEN_EMPTY, ACCOUNT_BANNED})
# Business codes (answered with HTTP 200 as often as not): §2 of the contract.
BAD_PARAMETER = 1003
NEEDS_VERIFICATION = 1004
TOO_FREQUENT = 1005
QUOTA_INSUFFICIENT = 1006
NO_PERMISSION = 1009
RESOURCE_NOT_FOUND = 1014
BALANCE_INSUFFICIENT = 1104
AVATAR_PROCESSING = 1214
AVATAR_BUSY = 1215
SESSION_NOT_FOUND = 1216
#: Akool's code → the typed error it means.
CODE_ERRORS: dict[int, type[ProviderError]] = {
    BAD_PARAMETER: ProviderInvalidRequest,
    NEEDS_VERIFICATION: ProviderRefused,
    TOO_FREQUENT: ProviderRateLimited,
    QUOTA_INSUFFICIENT: ProviderQuotaError,
    NO_PERMISSION: ProviderRefused,
    RESOURCE_NOT_FOUND: ProviderNotFound,
    BALANCE_INSUFFICIENT: ProviderQuotaError,
    AVATAR_PROCESSING: ProviderNotReady,
    AVATAR_BUSY: ProviderBusy,
    SESSION_NOT_FOUND: ProviderNotFound,
}

STATUS_QUEUEING = 1
STATUS_PROCESSING = 2
STATUS_READY = 3  # "completed" in Akool's words: the avatar is streaming
STATUS_FAILED = 4
MAX_DURATION_S = 3600

StreamType = Literal["agora", "livekit", "trtc"]


@dataclass(frozen=True, slots=True)
class AkoolSession:
    """A Live Avatar session as ``session/create`` and ``session/detail`` describe it.

    ``credentials`` is what the browser needs to join the stream (Agora, LiveKit or TRTC
    fields, passed through as Akool sent them); the Agora token lives 5 minutes.
    """

    session_id: str
    status: int
    stream_type: str | None = None
    uid: str | None = None
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_ready(self) -> bool:
        """The avatar is up and streaming (status 3)."""
        return self.status == STATUS_READY

    @property
    def is_failed(self) -> bool:
        """Akool gave up on the session (status 4)."""
        return self.status == STATUS_FAILED

    @property
    def is_pending(self) -> bool:
        """Still queueing (1) or processing (2)."""
        return self.status in (STATUS_QUEUEING, STATUS_PROCESSING)


@dataclass(frozen=True, slots=True)
class AkoolSessionPage:
    """One page of ``session/list``."""

    sessions: list[AkoolSession]
    total: int | None
    page: int
    size: int


def akool_error(response: httpx.Response, body: JSONDict | None) -> ProviderError:
    """The typed error for a refusal: by Akool code first, then HTTP status, then wording.

    Server errors and 429s go by status whatever the code; a documented business code then
    decides (1005 is a rate limit, retried with backoff as it carries no Retry-After).
    """
    status = response.status_code
    raw_code = body.get("code") if body else None
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    message = ""
    if body:
        for key in ("msg", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                message = value
                break
    message = message or f"HTTP {status}"
    kwargs: dict[str, Any] = {"provider": PROVIDER, "status": status, "provider_code": code}

    if status != 429 and status < 500 and code in CODE_ERRORS:
        return CODE_ERRORS[code](message, **kwargs)
    common = common_refusal(
        response, provider=PROVIDER, message=message, provider_code=code, auth_codes=AUTH_CODES
    )
    if common is not None:
        return common
    if status == 404 or mentions(message, NOT_FOUND_WORDS):
        return ProviderNotFound(message, **kwargs)
    if status in (400, 422):
        return ProviderInvalidRequest(message, **kwargs)
    if body is None and 200 <= status < 300:
        return ProviderProtocolError("the answer is not a JSON object", **kwargs)
    return ProviderError(message, **kwargs)


def _session(data: Mapping[str, Any], *, what: str) -> AkoolSession:
    status = optional_int(data, "status")
    if status is None:
        raise ProviderProtocolError(
            f"{what}: the answer has no numeric 'status'", provider=PROVIDER
        )
    credentials = data.get("credentials")
    return AkoolSession(
        session_id=require_str(data, "_id", provider=PROVIDER, what=what),
        status=status,
        stream_type=optional_str(data, "stream_type"),
        uid=optional_str(data, "uid"),
        credentials=dict(credentials) if isinstance(credentials, dict) else {},
    )


class AkoolAPI:
    """Async client of Akool Live Avatar; every call has a timeout; ``aclose`` is idempotent.

    Give ``api_key`` (sent as ``x-api-key``) or ``client_id`` + ``client_secret`` (a
    Bearer token from ``getToken``).
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout_s: float = 10.0,
        observer: ProviderCallObserver | None = None,
    ) -> None:
        if api_key:
            self._uses_token = False
        elif client_id and client_secret:
            self._uses_token = True
        else:
            raise ValueError("Akool needs an API key, or a client id and client secret")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._api_key = api_key
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        self._client = httpx.AsyncClient(headers={"Accept": "application/json"})
        self._observer = observer
        self._closed = False

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._base_url

    async def get_token(self) -> str:
        """A fresh Bearer token from ``getToken`` (clientId/clientSecret)."""
        body = await self._call(
            "POST",
            "/api/open/v3/getToken",
            json_body={"clientId": self._client_id, "clientSecret": self._client_secret},
            headers={},
        )
        data = body.get("data")
        source = data if isinstance(data, dict) and "token" in data else body
        return require_str(source, "token", provider=PROVIDER, what="getToken")

    async def create_session(
        self,
        *,
        avatar_id: str,
        duration_s: int,
        stream_type: StreamType = "agora",
        voice_id: str | None = None,
        voice_url: str | None = None,
        language: str | None = None,
        mode_type: int | None = None,
        knowledge_id: str | None = None,
        background_url: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        voice_params: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> AkoolSession:
        """Create a session (``session/create``); Akool pre-charges the whole ``duration_s``."""
        if not 1 <= duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration_s must be within 1–{MAX_DURATION_S}")
        body: JSONDict = {
            "avatar_id": avatar_id,
            "duration": duration_s,
            "stream_type": stream_type,
            "voice_id": voice_id,
            "voice_url": voice_url,
            "language": language,
            "mode_type": mode_type,
            "knowledge_id": knowledge_id,
            "background_url": background_url,
            "credentials": dict(credentials) if credentials is not None else None,
            "voice_params": dict(voice_params) if voice_params is not None else None,
        }
        body = {key: value for key, value in body.items() if value is not None}
        body.update(extra or {})
        data = await self._data(
            "POST", "/api/open/v4/liveAvatar/session/create", json_body=body, timeout_s=timeout_s
        )
        return _session(data, what="session/create")

    async def session_detail(self, session_id: str) -> AkoolSession:
        """The session's current state (``session/detail``)."""
        data = await self._data(
            "GET", "/api/open/v4/liveAvatar/session/detail", params={"id": session_id}
        )
        return _session(data, what="session/detail")

    async def wait_until_ready(
        self,
        session_id: str,
        *,
        poll_interval_s: float = 1.0,
        timeout_s: float = 30.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> AkoolSession:
        """Poll ``session/detail`` until status 3; status 4 raises, so does ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            session = await self.session_detail(session_id)
            if session.is_ready:
                return session
            if session.is_failed:
                raise ProviderSessionFailed(
                    f"session {session_id} failed to start (status 4)", provider=PROVIDER
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ProviderTimeout(
                    f"session {session_id} not ready after {timeout_s:g} s "
                    f"(status {session.status})",
                    provider=PROVIDER,
                )
            await sleep(min(poll_interval_s, remaining))

    async def close_session(self, session_id: str, *, missing_ok: bool = True) -> bool:
        """Close a session (``session/close``); True if Akool closed it now.

        Sends the id as both ``id`` (OpenAPI, demo) and ``session_id`` (docs, Akool's plugin).
        With ``missing_ok`` an unknown session (1216) is not an error (returns False).
        """
        try:
            await self._call(
                "POST",
                "/api/open/v4/liveAvatar/session/close",
                json_body={"id": session_id, "session_id": session_id},
            )
        except ProviderNotFound:
            if missing_ok:
                return False
            raise
        return True

    async def list_sessions(
        self, *, status: int | None = None, page: int = 1, size: int = 100
    ) -> AkoolSessionPage:
        """One page of ``session/list``, optionally only sessions with ``status``."""
        params: dict[str, str | int] = {"page": page, "size": size}
        if status is not None:
            params["status"] = status
        body = await self._call("GET", "/api/open/v4/liveAvatar/session/list", params=params)
        data = body.get("data")
        items: Any = data
        total: int | None = None
        if isinstance(data, dict):
            items = next((data[key] for key in ("result", "list", "sessions") if key in data), None)
            total = optional_int(data, "count")
            if total is None:
                total = optional_int(data, "total")
        if not isinstance(items, list):
            raise ProviderProtocolError("session/list: no session list", provider=PROVIDER)
        sessions = [_session(item, what="session/list") for item in items if isinstance(item, dict)]
        return AkoolSessionPage(sessions=sessions, total=total, page=page, size=size)

    async def list_avatars(self, *, page: int = 1, size: int = 100) -> list[JSONDict]:
        """The streaming avatars of the account (``avatar/list`` → ``data.result``)."""
        data = await self._data(
            "GET", "/api/open/v4/liveAvatar/avatar/list", params={"page": page, "size": size}
        )
        result = data.get("result")
        return (
            [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []
        )

    async def aclose(self) -> None:
        """Close the connection pool; safe to call more than once."""
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def _auth_headers(self) -> tuple[dict[str, str], str | None]:
        if not self._uses_token:
            assert self._api_key is not None
            return {"x-api-key": self._api_key}, None
        async with self._token_lock:
            if self._token is None:
                self._token = await self.get_token()
            token = self._token
        return {"Authorization": f"Bearer {token}"}, token

    async def _refresh_token(self, stale: str) -> None:
        async with self._token_lock:
            if self._token == stale:  # nobody refreshed it meanwhile
                self._token = None

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> JSONDict:
        """One API call; with a Bearer token, retried once after a refresh on 1101."""
        if self._closed:
            raise ProviderError("the Akool client is closed", provider=PROVIDER)
        for attempt in (1, 2):
            used_token: str | None = None
            if headers is None:
                auth, used_token = await self._auth_headers()
            else:
                auth = dict(headers)
            response = await send(
                self._client,
                method,
                self._base_url + path,
                provider=PROVIDER,
                timeout_s=timeout_s or self._timeout_s,
                headers=auth,
                json_body=json_body,
                params=params,
                observer=self._observer,
                endpoint=path,
            )
            body = decode_json(response)
            if body is not None and body.get("code") == SUCCESS and response.status_code < 400:
                return body
            error = akool_error(response, body)
            if used_token is not None and error.provider_code == TOKEN_INVALID and attempt == 1:
                await self._refresh_token(used_token)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _data(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        timeout_s: float | None = None,
    ) -> JSONDict:
        body = await self._call(
            method, path, json_body=json_body, params=params, timeout_s=timeout_s
        )
        data = body.get("data")
        if not isinstance(data, dict):
            raise ProviderProtocolError(
                f"{path}: the answer has no 'data' object", provider=PROVIDER
            )
        return data
