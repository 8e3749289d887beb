"""Akool data-stream messages: the JSON the browser relays over Agora/LiveKit/TRTC.

Chat: ``{"v":2,"type":"chat","mid","idx","fin","pld":{"text"}}``; command:
``{"v":2,"type":"command","mid","pld":{"cmd","data"}}``. Encoded compactly as UTF-8,
as the browser's ``JSON.stringify`` + ``TextEncoder`` would. Agora takes at most
1,024 bytes a message and 6 KB a second; like Akool's demo we aim at 950 bytes.
The segmenter chunks text at word boundaries; the functions here tell it how many
text bytes fit and refuse anything that would not.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from visavis.avatars.errors import DataStreamMessageTooLarge

PROTOCOL_VERSION = 2
MESSAGE_BYTES_BUDGET = 950  # what we aim at (Akool's demo does the same)
AGORA_MAX_MESSAGE_BYTES = 1024  # Agora's hard limit per data-stream message
AGORA_MAX_BYTES_PER_SECOND = 6000

Command = Literal["interrupt", "set-params"]


def encode(message: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, byte for byte what ``JSON.stringify`` + ``TextEncoder`` give.

    Lone surrogates become ``\\udXXX`` escapes, as in well-formed ``JSON.stringify``.
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", errors="backslashreplace")


def encoded_text_bytes(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string once escaped and UTF-8 encoded."""
    return len(encode({"t": text})) - len(b'{"t":""}')


def new_message_id() -> str:
    """A fresh ``mid`` for one chat message (all its chunks share it)."""
    return f"msg-{uuid.uuid4().hex[:16]}"


def chat_payload(*, mid: str, idx: int, fin: bool, text: str) -> dict[str, Any]:
    """The chat message as a dict, keys in the order the demo sends them."""
    if idx < 0:
        raise ValueError("idx counts chunks from 0")
    return {
        "v": PROTOCOL_VERSION,
        "type": "chat",
        "mid": mid,
        "idx": idx,
        "fin": fin,
        "pld": {"text": text},
    }


def chat_text_budget(mid: str, idx: int, *, limit: int = MESSAGE_BYTES_BUDGET) -> int:
    """How many escaped text bytes (see :func:`encoded_text_bytes`) fit in chunk ``idx``.

    Counts the envelope with ``fin: false`` (one byte longer than ``true``), so the
    budget holds whether or not the chunk turns out to be the last.
    """
    envelope = len(encode(chat_payload(mid=mid, idx=idx, fin=False, text="")))
    return max(0, limit - envelope)


def chat_message(
    *, mid: str, idx: int, fin: bool, text: str, limit: int = MESSAGE_BYTES_BUDGET
) -> bytes:
    """One encoded chat chunk; raises :class:`DataStreamMessageTooLarge` over ``limit``."""
    data = encode(chat_payload(mid=mid, idx=idx, fin=fin, text=text))
    if len(data) > limit:
        raise DataStreamMessageTooLarge(
            f"chat chunk {idx} of {mid} is {len(data)} bytes encoded, over {limit}",
            size=len(data),
            limit=limit,
        )
    return data


def chat_messages(
    mid: str, chunks: Sequence[str], *, limit: int = MESSAGE_BYTES_BUDGET
) -> list[bytes]:
    """The encoded chunks of one chat message: ``idx`` from 0, ``fin`` on the last."""
    if not chunks:
        raise ValueError("a chat message needs at least one chunk")
    last = len(chunks) - 1
    return [
        chat_message(mid=mid, idx=idx, fin=idx == last, text=text, limit=limit)
        for idx, text in enumerate(chunks)
    ]


def command_message(
    cmd: Command,
    data: Mapping[str, Any] | None = None,
    *,
    mid: str | None = None,
    limit: int = MESSAGE_BYTES_BUDGET,
) -> bytes:
    """One encoded command (``interrupt``, ``set-params``); ``mid`` defaults to ``msg-<ms>``."""
    pld: dict[str, Any] = {"cmd": cmd}
    if data is not None:
        pld["data"] = dict(data)
    message = {
        "v": PROTOCOL_VERSION,
        "type": "command",
        "mid": mid or f"msg-{time.time_ns() // 1_000_000}",
        "pld": pld,
    }
    encoded = encode(message)
    if len(encoded) > limit:
        raise DataStreamMessageTooLarge(
            f"command {cmd} is {len(encoded)} bytes encoded, over {limit}",
            size=len(encoded),
            limit=limit,
        )
    return encoded


def interrupt_message(*, mid: str | None = None) -> bytes:
    """The command that makes the avatar stop speaking now."""
    return command_message("interrupt", mid=mid)


def set_params_message(params: Mapping[str, Any], *, mid: str | None = None) -> bytes:
    """The command that sets session parameters (voice, language, mode, ...)."""
    return command_message("set-params", params, mid=mid)
