"""Request limits enforced before any route runs: body size, JSON nesting depth, header
count, and no NUL in the URL."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from visavis.api.problems import ProblemResponse, problem

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
    replayed to the application. ``upload_limits`` gives some paths (file uploads) their own.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_depth: int,
        max_headers: int = 100,
        max_header_bytes: int = 64 * 1024,
        upload_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        # Paths that take large uploads (audio): streamed through under their own limit. Keys
        # are patterns a path must match whole (``/v1/voices/[^/]+/samples``).
        self.upload_limits = [
            (re.compile(path), limit) for path, limit in (upload_limits or {}).items()
        ]

    def _refuse_head(self, scope: Scope) -> ProblemResponse | None:
        """431 for too many or too large headers; 400 for a NUL (``%00``) in the URL.

        The server refuses far larger heads before they are buffered (``serve`` configures
        h11 with the same byte limit); this makes the limit exact.
        """
        headers = scope.get("headers") or ()
        if len(headers) > self.max_headers:
            return problem(
                431,
                f"the request has more than {self.max_headers} headers",
                code="too_many_headers",
                headers={"Connection": "close"},
            )
        if sum(len(name) + len(value) + 4 for name, value in headers) > self.max_header_bytes:
            return problem(
                431,
                f"the request's headers are larger than {self.max_header_bytes} bytes",
                code="headers_too_large",
                headers={"Connection": "close"},
            )
        raw = (scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")) + (
            b"?" + scope.get("query_string", b"")
        )
        if b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", ""):
            return problem(
                400,
                "the URL contains a NUL character (%00): remove it",
                code="nul_in_url",
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refuse_head(scope)
        if refusal is not None:
            if scope["type"] == "http":
                await refusal(scope, receive, send)
            else:  # before the handshake: the server answers 403 and closes
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers") or []}
        declared = headers.get(b"content-length")
        path = scope.get("path", "")
        upload_limit = next((n for p, n in self.upload_limits if p.fullmatch(path)), None)
        if upload_limit is not None:
            await self._upload(scope, receive, send, declared, upload_limit)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
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
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type.endswith(b"json") and json_depth_exceeds(body, self.max_depth):
            response = problem(
                422,
                f"the JSON body nests deeper than {self.max_depth} levels",
                code="json_too_deep",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _upload(
        self, scope: Scope, receive: Receive, send: Send, declared: bytes | None, limit: int
    ) -> None:
        """Pass a large upload through unbuffered, refusing it past ``limit`` bytes."""
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:  # no length declared: the stream is cut off past the limit
                return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, limit: int | None = None
    ) -> None:
        response = problem(
            413,
            f"the request body is larger than {limit or self.max_bytes} bytes",
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
