"""Answers that stream: server-sent events in OpenAI's shape, and a stream's first part awaited
in the route, so that what fails before anything is sent still answers with its status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

T = TypeVar("T")

SSE_MEDIA_TYPE = "text/event-stream"
#: Proxies must pass each part on as it comes (nginx buffers otherwise).
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(kind: str, **fields: Any) -> bytes:
    """One event: ``event: kind`` and its data, ``{"type": kind, **fields}``."""
    data = json.dumps({"type": kind, **fields}, ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n".encode()


async def started(parts: AsyncIterator[T]) -> AsyncIterator[T]:
    """``parts`` once their first has come: what fails before it raises here, in the route.

    An empty stream is empty."""
    head: list[T] = []
    async for part in parts:
        head.append(part)
        break

    async def resumed() -> AsyncIterator[T]:
        for part in head:
            yield part
        async for part in parts:
            yield part

    return resumed()
