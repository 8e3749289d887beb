"""Request limits enforced before any route runs: body size and JSON nesting depth."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visavis.api.problems import problem

_METHODS_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``max_depth`` (strings ignored)."""
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class RequestLimitsMiddleware:
    """413 for bodies over ``max_bytes``, 422 for JSON nested deeper than ``max_depth``.

    Bodies are small by policy, so the whole body is buffered (at most ``max_bytes``) and then
    replayed to the application. ``body_limits`` gives some paths (file uploads) their own.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_depth: int,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.body_limits = dict(body_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.body_limits.get(scope.get("path", ""), self.max_bytes)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip()
        if content_type.endswith(b"json") and json_depth_exceeds(body, self.max_depth):
            response = problem(
                422,
                f"the JSON body nests deeper than {self.max_depth} levels",
                code="json_too_deep",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(
            413,
            f"the request body is larger than {limit} bytes",
            code="body_too_large",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(body: bytes, upstream: Receive) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, the only thing left to receive is the real disconnect.
        return await upstream()

    return receive


def parse_json_limited(text: str | bytes, *, max_depth: int) -> Any:
    """Parse JSON the middleware never saw (WebSocket frames) under the same depth rule."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if json_depth_exceeds(raw, max_depth):
        raise ValueError(f"JSON nests deeper than {max_depth} levels")
    return json.loads(raw)
