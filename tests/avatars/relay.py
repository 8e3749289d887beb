"""The browser's part in text-driven providers, for tests: publish what the server hands it.

The page relays each data-channel message unchanged into the provider's room (Akool's data
stream, LiveAvatar FULL's ``agent-control`` topic, Tavus's app messages). Joining a real room
is not possible here, so the relay posts to the fake's stand-in for that channel instead.
"""

from __future__ import annotations

from typing import Any

import httpx


class BrowserRelay:
    """A ``DataSink`` that posts every message to ``url`` and keeps the fake's answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent: list[str] = []
        self.answers: list[dict[str, Any]] = []

    async def __call__(self, message: str) -> None:
        self.sent.append(message)
        async with httpx.AsyncClient() as http:
            answer = await http.post(self.url, content=message.encode("utf-8"))
        body = answer.json()
        self.answers.append(body)
        assert body.get("accepted"), f"the provider's channel refused {message!r}: {body}"
