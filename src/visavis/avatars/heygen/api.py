"""HTTP client of HeyGen Streaming (Interactive Avatar): ``streaming.*`` v1 and v2.

Contract: shared/reference/provider-apis.md §1. Both success envelopes are accepted
(``{"error": null, "data"}`` and ``{"code": 100, "message", "data"}``); every refusal
becomes a typed error from :mod:`visavis.avatars.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    optional_int,
    optional_str,
    require_str,
    send,
)

PROVIDER = "heygen"
DEFAULT_BASE_URL = "https://api.heygen.com"

HeyGenAuth = Literal["x-api-key", "bearer"]
Quality = Literal["high", "medium", "low"]
TaskType = Literal["repeat", "chat", "talk"]
TaskMode = Literal["sync", "async"]

SUCCESS_CODES = frozenset({0, 100, 200})
AUTH_CODES = frozenset({40009, 400112})  # INVALID_CREDENTIALS, UNAUTHORIZED
NOT_FOUND_CODES = frozenset({10013})  # avatar not found
STATE_CODES = frozenset({400006, 10005})  # not in correct state; "session state wrong: closed"
INVALID_CODES = frozenset({40001, 400175, 10003})  # missing/invalid params; avatar deprecated


@dataclass(frozen=True, slots=True)
class HeyGenVoice:
    """The ``voice`` object of ``streaming.new``; unset fields are not sent."""

    voice_id: str | None = None
    rate: float | None = None
    emotion: str | None = None
    model: str | None = None
    elevenlabs_settings: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and not 0.5 <= self.rate <= 1.5:
            raise ValueError(f"voice rate must be within 0.5–1.5, got {self.rate}")

    def to_json(self) -> JSONDict:
        """The JSON object HeyGen expects."""
        body: JSONDict = {
            "voice_id": self.voice_id,
            "rate": self.rate,
            "emotion": self.emotion,
            "model": self.model,
            "elevenlabs_settings": dict(self.elevenlabs_settings)
            if self.elevenlabs_settings is not None
            else None,
        }
        return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True, slots=True)
class HeyGenSession:
    """What ``streaming.new`` returns: the browser joins ``url`` with ``access_token``."""

    session_id: str
    url: str
    access_token: str = field(repr=False)
    session_duration_limit_s: float | None = None
    is_paid: bool | None = None
    realtime_endpoint: str | None = None
    livekit_agent_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class HeyGenTaskResult:
    """What ``streaming.task`` returns: how long the avatar will speak, and the task id."""

    task_id: str | None
    duration_ms: float | None


@dataclass(frozen=True, slots=True)
class HeyGenListedSession:
    """One session of ``streaming.list`` (v1: active only; v2: history with more fields)."""

    session_id: str
    status: str | None
    created_at: float | None
    avatar_id: str | None = None
    voice_name: str | None = None
    duration_s: float | None = None
    api_key_type: str | None = None


@dataclass(frozen=True, slots=True)
class HeyGenSessionPage:
    """One page of ``/v2/streaming.list``; ``next_token`` is None on the last page."""

    sessions: list[HeyGenListedSession]
    total: int | None
    page: int | None
    page_size: int | None
    next_token: str | None


def heygen_error(response: httpx.Response, body: JSONDict | None) -> ProviderError:
    """The typed error for a refusal: by documented code first, then HTTP status, then wording."""
    status = response.status_code
    raw_code = body.get("code") if body else None
    if body and raw_code is None and isinstance(body.get("error"), dict):
        raw_code = body["error"].get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    message = ""
    if body:
        for key in ("message", "msg", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                message = value
                break
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                message = value["message"]
                break
    message = message or f"HTTP {status}"
    kwargs: dict[str, Any] = {"provider": PROVIDER, "status": status, "provider_code": code}

    common = common_refusal(
        response, provider=PROVIDER, message=message, provider_code=code, auth_codes=AUTH_CODES
    )
    if common is not None:
        return common
    if code in STATE_CODES:
        # 400006 is also seen with "Invalid params" on a well-formed state.
        if "param" in message.lower():
            return ProviderInvalidRequest(message, **kwargs)
        return ProviderSessionStateError(message, **kwargs)
    if code in NOT_FOUND_CODES or status == 404 or mentions(message, NOT_FOUND_WORDS):
        return ProviderNotFound(message, **kwargs)
    if code in INVALID_CODES or status == 422:
        return ProviderInvalidRequest(message, **kwargs)
    return ProviderError(message, **kwargs)


def _is_success(response: httpx.Response, body: JSONDict | None) -> bool:
    if not 200 <= response.status_code < 300 or body is None:
        return False
    if body.get("error") not in (None, "", {}):
        return False
    code = body.get("code")
    return code is None or code in SUCCESS_CODES


def _listed_session(item: Mapping[str, Any]) -> HeyGenListedSession:
    return HeyGenListedSession(
        session_id=require_str(item, "session_id", provider=PROVIDER, what="streaming.list"),
        status=optional_str(item, "status"),
        created_at=optional_float(item, "created_at"),
        avatar_id=optional_str(item, "avatar_id"),
        voice_name=optional_str(item, "voice_name"),
        duration_s=optional_float(item, "duration"),
        api_key_type=optional_str(item, "api_key_type"),
    )


class HeyGenAPI:
    """Async client of HeyGen Streaming; every call has a timeout; ``aclose`` is idempotent.

    ``auth="x-api-key"`` sends ``x-api-key: <api_key>`` (server side); ``auth="bearer"``
    sends ``Authorization: Bearer <api_key>`` (the key, or a session token).
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        auth: HeyGenAuth = "x-api-key",
        timeout_s: float = 10.0,
        observer: ProviderCallObserver | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("HeyGen needs an API key")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        if auth == "bearer":
            self._auth_headers = {"Authorization": f"Bearer {api_key}"}
        else:
            self._auth_headers = {"x-api-key": api_key}
        self._client = httpx.AsyncClient(headers={"Accept": "application/json"})
        self._observer = observer
        self._closed = False

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._base_url

    async def create_token(self) -> str:
        """A one-time session token for the browser SDK (``streaming.create_token``)."""
        data = await self._data("POST", "/v1/streaming.create_token", json_body={})
        return require_str(data, "token", provider=PROVIDER, what="streaming.create_token")

    async def new_session(
        self,
        *,
        avatar_id: str,
        quality: Quality = "medium",
        voice: HeyGenVoice | None = None,
        activity_idle_timeout: int | None = None,
        version: str = "v2",
        video_encoding: Literal["H264", "VP8"] | None = None,
        knowledge_base: str | None = None,
        knowledge_base_id: str | None = None,
        language: str | None = None,
        stt_settings: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> HeyGenSession:
        """Create a session (``streaming.new``); it must be started before it speaks."""
        if activity_idle_timeout is not None and not 30 <= activity_idle_timeout <= 3600:
            raise ValueError("activity_idle_timeout must be within 30–3600 s")
        body: JSONDict = {
            "quality": quality,
            "avatar_id": avatar_id,
            "version": version,
            "voice": voice.to_json() if voice is not None else None,
            "activity_idle_timeout": activity_idle_timeout,
            "video_encoding": video_encoding,
            "knowledge_base": knowledge_base,
            "knowledge_base_id": knowledge_base_id,
            "language": language,
            "stt_settings": dict(stt_settings) if stt_settings is not None else None,
        }
        body = {key: value for key, value in body.items() if value is not None}
        body.update(extra or {})
        data = await self._data("POST", "/v1/streaming.new", json_body=body, timeout_s=timeout_s)
        is_paid = data.get("is_paid")
        return HeyGenSession(
            session_id=require_str(data, "session_id", provider=PROVIDER, what="streaming.new"),
            url=require_str(data, "url", provider=PROVIDER, what="streaming.new"),
            access_token=require_str(data, "access_token", provider=PROVIDER, what="streaming.new"),
            session_duration_limit_s=optional_float(data, "session_duration_limit"),
            is_paid=is_paid if isinstance(is_paid, bool) else None,
            realtime_endpoint=optional_str(data, "realtime_endpoint"),
            livekit_agent_token=optional_str(data, "livekit_agent_token"),
        )

    async def start(self, session_id: str) -> str | None:
        """Start a created session (``streaming.start``); returns the status it reports."""
        data = await self._data("POST", "/v1/streaming.start", json_body={"session_id": session_id})
        return optional_str(data, "status")

    async def task(
        self,
        session_id: str,
        text: str,
        *,
        task_type: TaskType = "repeat",
        task_mode: TaskMode = "sync",
        timeout_s: float | None = None,
    ) -> HeyGenTaskResult:
        """Make the avatar speak ``text`` (``streaming.task``; ``repeat`` says it verbatim)."""
        body = {
            "session_id": session_id,
            "text": text,
            "task_type": task_type,
            "task_mode": task_mode,
        }
        data = await self._data("POST", "/v1/streaming.task", json_body=body, timeout_s=timeout_s)
        return HeyGenTaskResult(
            task_id=optional_str(data, "task_id"), duration_ms=optional_float(data, "duration_ms")
        )

    async def interrupt(self, session_id: str) -> None:
        """Stop what the avatar is saying now (``streaming.interrupt``)."""
        await self._data("POST", "/v1/streaming.interrupt", json_body={"session_id": session_id})

    async def keep_alive(self, session_id: str) -> None:
        """Reset the session's idle timer (``streaming.keep_alive``)."""
        await self._data("POST", "/v1/streaming.keep_alive", json_body={"session_id": session_id})

    async def stop(self, session_id: str, *, missing_ok: bool = True) -> bool:
        """Close a session (``streaming.stop``); True if HeyGen closed it now.

        With ``missing_ok`` a session HeyGen reports as already closed or unknown is
        not an error (returns False), so stopping twice is safe.
        """
        try:
            await self._data("POST", "/v1/streaming.stop", json_body={"session_id": session_id})
        except (ProviderSessionStateError, ProviderNotFound):
            if missing_ok:
                return False
            raise
        return True

    async def list_v1(self) -> list[HeyGenListedSession]:
        """The sessions open now (``GET /v1/streaming.list``)."""
        body = await self._body("GET", "/v1/streaming.list")
        sessions = body.get("sessions")
        if sessions is None and isinstance(body.get("data"), dict):
            sessions = body["data"].get("sessions")
        if not isinstance(sessions, list):
            raise ProviderProtocolError("streaming.list: no 'sessions' list", provider=PROVIDER)
        return [_listed_session(item) for item in sessions if isinstance(item, dict)]

    async def list_v2(
        self,
        *,
        page: int = 1,
        page_size: int = 100,
        token: str | None = None,
        status: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> HeyGenSessionPage:
        """One page of the session history (``GET /v2/streaming.list``)."""
        params: dict[str, str | int] = {"page": page, "page_size": page_size}
        for key, value in (
            ("token", token),
            ("status", status),
            ("date_from", date_from),
            ("date_to", date_to),
        ):
            if value is not None:
                params[key] = value
        body = await self._body("GET", "/v2/streaming.list", params=params)
        # The page fields sit at the top level, or inside "data" next to the list.
        container: Mapping[str, Any] = body
        if isinstance(body.get("data"), dict):
            container = body["data"]
        items = container.get("data", container.get("sessions"))
        if not isinstance(items, list):
            raise ProviderProtocolError("v2 streaming.list: no session list", provider=PROVIDER)
        next_token = optional_str(container, "next_pagination_token") or None
        return HeyGenSessionPage(
            sessions=[_listed_session(item) for item in items if isinstance(item, dict)],
            total=optional_int(container, "total"),
            page=optional_int(container, "page"),
            page_size=optional_int(container, "page_size"),
            next_token=next_token,
        )

    async def list_v2_all(
        self, *, page_size: int = 100, max_pages: int = 50, status: str | None = None
    ) -> list[HeyGenListedSession]:
        """Every page of the history, following ``next_pagination_token`` (bounded)."""
        sessions: list[HeyGenListedSession] = []
        token: str | None = None
        for page in range(1, max_pages + 1):
            result = await self.list_v2(page=page, page_size=page_size, token=token, status=status)
            sessions.extend(result.sessions)
            if result.next_token is None or not result.sessions:
                break
            token = result.next_token
        return sessions

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
        timeout_s: float | None = None,
    ) -> JSONDict:
        if self._closed:
            raise ProviderError("the HeyGen client is closed", provider=PROVIDER)
        response = await send(
            self._client,
            method,
            self._base_url + path,
            provider=PROVIDER,
            timeout_s=timeout_s or self._timeout_s,
            headers=self._auth_headers,
            json_body=json_body,
            params=params,
            observer=self._observer,
            endpoint=path,
        )
        body = decode_json(response)
        if not _is_success(response, body):
            raise heygen_error(response, body)
        assert body is not None  # _is_success checked it
        return body

    async def _data(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> JSONDict:
        body = await self._body(method, path, json_body=json_body, timeout_s=timeout_s)
        data = body.get("data")
        # keep_alive and interrupt may answer a bare {code, message}: no data is fine.
        return data if isinstance(data, dict) else {}
