"""The checks Agora's data stream (and Akool's avatar) apply to each message, for the Akool fake.

A message over ``max_message_bytes`` (1,024) is rejected; so is one that would put more
than ``max_window_bytes`` (6,000) into any sliding ``window_s`` (1 s). Bytes that pass
those two limits count against the window even if their content is then refused
(``v != 2``, bad JSON, unknown type or command, chunks out of order). A message over
``chunk_budget_bytes`` (950, the budget Visavis aims at) is accepted but recorded.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

JSON = dict[str, Any]
TYPES = ("chat", "command")
COMMANDS = ("interrupt", "set-params")


class DataStreamChecker:
    """Validates one session's incoming data-stream messages and keeps what it accepted."""

    def __init__(
        self,
        *,
        max_message_bytes: int = 1024,
        max_window_bytes: int = 6000,
        window_s: float = 1.0,
        chunk_budget_bytes: int = 950,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_window_bytes = max_window_bytes
        self.window_s = window_s
        self.chunk_budget_bytes = chunk_budget_bytes
        self._window: deque[tuple[float, int]] = deque()
        self._next_idx: dict[str, int] = {}
        self._finished: set[str] = set()
        self.accepted: list[JSON] = []
        self.violations: list[JSON] = []
        self.peak_window_bytes = 0

    def window_bytes(self, now: float) -> int:
        """Bytes sent within ``(now - window_s, now]``."""
        while self._window and self._window[0][0] <= now - self.window_s:
            self._window.popleft()
        return sum(size for _, size in self._window)

    def check(self, raw: bytes, *, now: float, session_id: str) -> list[JSON]:
        """Check one message; returns the violations it caused (empty if clean)."""
        size = len(raw)
        found: list[JSON] = []

        def violation(kind: str, detail: str, **extra: Any) -> None:
            found.append(
                {
                    "session_id": session_id,
                    "kind": kind,
                    "detail": detail,
                    "bytes": size,
                    "at": now,
                    **extra,
                }
            )

        if size > self.max_message_bytes:
            violation("message_too_large", f"{size} bytes > {self.max_message_bytes}")
            return self._keep(found)
        in_window = self.window_bytes(now)
        if in_window + size > self.max_window_bytes:
            violation(
                "rate_exceeded",
                f"{in_window} + {size} bytes in {self.window_s:g} s > {self.max_window_bytes}",
                window_bytes=in_window + size,
            )
            return self._keep(found)
        self._window.append((now, size))
        self.peak_window_bytes = max(self.peak_window_bytes, in_window + size)
        if size > self.chunk_budget_bytes:
            violation("over_chunk_budget", f"{size} bytes > {self.chunk_budget_bytes}")

        try:
            message = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            violation("invalid_json", str(exc))
            return self._keep(found)
        problem = self._shape_problem(message)
        if problem is not None:
            violation(*problem)
            return self._keep(found)
        self.accepted.append({"message": message, "bytes": size, "at": now})
        return self._keep(found)

    def _keep(self, found: list[JSON]) -> list[JSON]:
        self.violations.extend(found)
        return found

    def _shape_problem(self, message: Any) -> tuple[str, str] | None:
        if not isinstance(message, dict):
            return ("bad_shape", "not a JSON object")
        if message.get("v") != 2:
            return ("bad_version", f"v={message.get('v')!r}, only 2 is accepted")
        kind = message.get("type")
        if kind not in TYPES:
            return ("unknown_type", f"type={kind!r}")
        mid = message.get("mid")
        pld = message.get("pld")
        if not isinstance(mid, str) or not mid or not isinstance(pld, dict):
            return ("bad_shape", "mid must be a non-empty string and pld an object")
        if kind == "command":
            if pld.get("cmd") not in COMMANDS:
                return ("unknown_command", f"cmd={pld.get('cmd')!r}")
            data = pld.get("data")
            if data is not None and not isinstance(data, dict):
                return ("bad_shape", "command data must be an object")
            return None
        idx, fin, text = message.get("idx"), message.get("fin"), pld.get("text")
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            return ("bad_shape", f"idx={idx!r} must be a whole number from 0")
        if not isinstance(fin, bool) or not isinstance(text, str):
            return ("bad_shape", "fin must be a boolean and pld.text a string")
        if mid in self._finished:
            return ("bad_sequence", f"chunk {idx} of {mid} after its fin")
        expected = self._next_idx.get(mid, 0)
        if idx != expected:
            return ("bad_sequence", f"chunk {idx} of {mid}, expected {expected}")
        self._next_idx[mid] = idx + 1
        if fin:
            self._finished.add(mid)
        return None

    def chat_texts(self) -> dict[str, str]:
        """The text of every chat message received so far, chunks joined, by ``mid``."""
        texts: dict[str, str] = {}
        for item in self.accepted:
            message = item["message"]
            if message["type"] == "chat":
                texts[message["mid"]] = texts.get(message["mid"], "") + message["pld"]["text"]
        return texts

    def summary(self) -> JSON:
        """What a test wants to see: accepted messages, chat texts, finished mids, peak rate."""
        return {
            "messages": [dict(item) for item in self.accepted],
            "chat_texts": self.chat_texts(),
            "finished": sorted(self._finished),
            "commands": [
                item["message"]["pld"]["cmd"]
                for item in self.accepted
                if item["message"]["type"] == "command"
            ],
            "violations": list(self.violations),
            "peak_window_bytes": self.peak_window_bytes,
        }
