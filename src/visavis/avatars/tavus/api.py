"""HTTP client of Tavus CVI: echo-mode conversations, listing, ending, faces.

Contract: shared/reference/provider-apis.md §4. ``x-api-key``; ``POST /v2/conversations`` with
an echo-mode PAL (``pal_id``; ``persona_id`` is its deprecated alias) returns the conversation
and its Daily room. Billing starts at creation, so a conversation is ended explicitly
(``POST /v2/conversations/{id}/end``). Faces are listed at ``GET /v2/faces`` (``/v2/replicas``
before the July 2026 rename, tried when the new path is missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from visavis.avatars.errors import (
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderProtocolError,
    ProviderSessionStateError,
)
from visavis.avatars.liveavatar.api import parse_time
from visavis.avatars.transport import (
    NOT_FOUND_WORDS,
    JSONDict,
    ProviderCallObserver,
    common_refusal,
    decode_json,
    mentions,
    optional_str,
    path_template,
    require_str,
    send,
)

PROVIDER = "tavus"
DEFAULT_BASE_URL = "https://tavusapi.com"
ENDED_WORDS = ("ended", "already", "not active")


@dataclass(frozen=True, slots=True)
class TavusConversation:
    """A conversation as Tavus reports it."""

    conversation_id: str
    status: str | None
    conversation_url: str | None = field(default=None, repr=False)
    created_at: datetime | None = None


def tavus_error(response: httpx.Response, body: JSONDict | None) -> ProviderError:
    """The typed error of a refusal (by status, then wording)."""
    status = response.status_code
    message = ""
    if body:
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                message = value
                break
    message = message or f"HTTP {status}"
    kwargs: dict[str, Any] = {"provider": PROVIDER, "status": status}
    common = common_refusal(
        response, provider=PROVIDER, message=message, provider_code=None, auth_codes=frozenset()
    )
    if common is not None:
        return common
    if status == 404 or mentions(message, NOT_FOUND_WORDS):
        return ProviderNotFound(message, **kwargs)
    if mentions(message, ENDED_WORDS):
        return ProviderSessionStateError(message, **kwargs)
    if status in (400, 422):
        return ProviderInvalidRequest(message, **kwargs)
    return ProviderError(message, **kwargs)


def _conversation(data: Mapping[str, Any], what: str) -> TavusConversation:
    return TavusConversation(
        conversation_id=require_str(data, "conversation_id", provider=PROVIDER, what=what),
        status=optional_str(data, "status"),
        conversation_url=optional_str(data, "conversation_url"),
        created_at=parse_time(data.get("created_at")),
    )


class TavusAPI:
    """Async client of Tavus; every call has a timeout; ``aclose`` is idempotent."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        observer: ProviderCallObserver | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("Tavus needs an API key")
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._key = {"x-api-key": api_key}
        self._client = httpx.AsyncClient(headers={"Accept": "application/json"})
        self._observer = observer
        self._closed = False

    async def create_conversation(
        self,
        *,
        pal_id: str,
        face_id: str | None = None,
        max_call_duration_s: int = 1800,
        language: str | None = None,
        test_mode: bool = False,
    ) -> TavusConversation:
        """Start a conversation with an echo-mode PAL (billing starts now)."""
        properties: JSONDict = {
            "max_call_duration": max_call_duration_s,
            "participant_absent_timeout": 300,
        }
        if language:
            properties["language"] = language
        body: JSONDict = {"pal_id": pal_id, "properties": properties}
        if face_id:
            body["face_id"] = face_id
        if test_mode:
            body["test_mode"] = True
        data = await self._json("POST", "/v2/conversations", json_body=body)
        return _conversation(data, "create conversation")

    async def conversation(self, conversation_id: str) -> TavusConversation:
        """One conversation (``GET /v2/conversations/{id}``)."""
        data = await self._json("GET", f"/v2/conversations/{conversation_id}")
        return _conversation(data, "conversation")

    async def end_conversation(self, conversation_id: str) -> bool:
        """End a conversation; False when it had already ended or is unknown."""
        try:
            await self._json("POST", f"/v2/conversations/{conversation_id}/end")
        except (ProviderNotFound, ProviderSessionStateError):
            return False
        return True

    async def list_active(
        self, *, limit: int = 100, max_pages: int = 20
    ) -> list[TavusConversation]:
        """Every active conversation (``GET /v2/conversations?status=active``, paged)."""
        found: list[TavusConversation] = []
        for page in range(1, max_pages + 1):
            body = await self._json(
                "GET",
                "/v2/conversations",
                params={"status": "active", "limit": limit, "page": page},
            )
            items = body.get("data")
            if not isinstance(items, list):
                raise ProviderProtocolError("conversations: no 'data' list", provider=PROVIDER)
            found += [_conversation(i, "conversations") for i in items if isinstance(i, dict)]
            total = body.get("total_count")
            if not items or not isinstance(total, int) or len(found) >= total:
                break
        return found

    async def list_faces(self) -> list[JSONDict]:
        """The faces of the account (``/v2/faces``, or ``/v2/replicas`` where not renamed)."""
        try:
            body = await self._json("GET", "/v2/faces", params={"limit": 100})
        except ProviderNotFound:
            body = await self._json("GET", "/v2/replicas", params={"limit": 100})
        items = body.get("data")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def _json(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> JSONDict:
        if self._closed:
            raise ProviderError("the Tavus client is closed", provider=PROVIDER)
        response = await send(
            self._client,
            method,
            self._base_url + path,
            provider=PROVIDER,
            timeout_s=self._timeout_s,
            headers=self._key,
            json_body=json_body,
            params=params,
            observer=self._observer,
            endpoint=path_template(path),
        )
        body = decode_json(response)
        if not 200 <= response.status_code < 300:
            raise tavus_error(response, body)
        return body or {}
