"""The LITE-mode WebSocket of a LiveAvatar session: our audio in, the face's events out.

Contract: shared/reference/provider-apis.md §1 (LITE mode control). Nothing may be sent before
``session.state_updated {state: connected}`` (LiveAvatar drops it silently), so
:meth:`LiteSocket.connect` waits for it. Audio goes as ``agent.speak`` (base64 PCM16 mono
24 kHz, ≤ 1 MB per message, one ``event_id`` per utterance), then ``agent.speak_end``;
``agent.interrupt`` stops the face; ``session.keep_alive`` resets the 5-minute idle timer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from visavis.avatars.audio_stream import AudioChannel
from visavis.avatars.base import FaceEvent, FaceListener
from visavis.avatars.errors import (
    ProviderProtocolError,
    ProviderSessionStateError,
    ProviderTimeout,
    ProviderUnavailable,
)
from visavis.avatars.liveavatar.api import PROVIDER

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1_000_000
WRITE_BUFFER_BYTES = 512 * 1024
_EVENTS = {
    "agent.speak_started": "speak_started",
    "agent.speak_ended": "speak_ended",
    "agent.speak_interrupted": "speak_interrupted",
}


class LiteSocket(AudioChannel):
    """One session's control socket; every send has a timeout; ``close`` is idempotent."""

    def __init__(
        self, url: str, *, connect_timeout_s: float = 10.0, send_timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.send_timeout_s = send_timeout_s
        self.state = "new"
        self.end_reason: str | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._listener: FaceListener | None = None

    async def connect(self) -> None:
        """Open the socket and wait until LiveAvatar says ``connected``."""
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                # A few seconds of audio may queue before a send waits for the socket to drain
                # (a stalled socket still fails by the send timeout). No per-message deflate:
                # base64 audio hardly compresses, and deflating each second of it cost more
                # CPU than everything else on the audio path together.
                self._ws = await connect(
                    self.url,
                    max_size=4 * MAX_MESSAGE_BYTES,
                    close_timeout=2,
                    write_limit=WRITE_BUFFER_BYTES,
                    compression=None,
                )
                self._reader = asyncio.create_task(self._read(), name="liveavatar-socket")
                await self._connected.wait()
        except TimeoutError as exc:
            await self.close()
            raise ProviderTimeout(
                f"the LITE socket was not connected within {self.connect_timeout_s:g} s",
                provider=PROVIDER,
            ) from exc
        except (OSError, InvalidHandshake, InvalidURI) as exc:
            await self.close()
            raise ProviderUnavailable(
                f"could not open the LITE socket: {type(exc).__name__}: {exc}", provider=PROVIDER
            ) from exc
        if self.state != "connected":
            raise ProviderSessionStateError(
                f"the LITE socket closed before it was ready ({self.end_reason or self.state})",
                provider=PROVIDER,
            )

    def set_listener(self, listener: FaceListener | None) -> None:
        self._listener = listener

    async def send_audio(self, utterance_id: str, pcm: bytes) -> None:
        # Built by hand: json.dumps would scan the whole base64 text for characters to escape.
        audio = base64.b64encode(pcm).decode("ascii")
        event_id = json.dumps(utterance_id)
        await self._send_text(
            f'{{"type":"agent.speak","event_id":{event_id},"audio":"{audio}"}}', "agent.speak"
        )

    async def end_utterance(self, utterance_id: str) -> None:
        await self._send({"type": "agent.speak_end", "event_id": utterance_id})

    async def interrupt(self, utterance_id: str | None) -> None:
        await self._send({"type": "agent.interrupt"})

    async def keep_alive(self) -> None:
        await self._send({"type": "session.keep_alive", "event_id": str(uuid.uuid4())})

    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_text(json.dumps(message, separators=(",", ":")), str(message["type"]))

    async def _send_text(self, data: str, kind: str) -> None:
        ws = self._ws
        if ws is None or self.state != "connected":
            raise ProviderSessionStateError(
                f"the LITE socket is {self.state}"
                + (f" ({self.end_reason})" if self.end_reason else ""),
                provider=PROVIDER,
            )
        if len(data) > MAX_MESSAGE_BYTES:
            raise ProviderProtocolError(
                f"{kind} is {len(data)} bytes, over LiveAvatar's 1 MB", provider=PROVIDER
            )
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await ws.send(data)
        except TimeoutError as exc:
            raise ProviderTimeout(
                "the LITE socket did not take a message", provider=PROVIDER
            ) from exc
        except ConnectionClosed as exc:
            self.state = "closed"
            raise ProviderSessionStateError(
                f"the LITE socket closed: {exc}", provider=PROVIDER
            ) from exc

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            async for raw in ws:
                self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            if self.state != "closed":
                self._closed(self.end_reason or "socket closed")

    def _handle(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("LiveAvatar sent a frame that is not JSON")
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "session.state_updated":
            state = message.get("state")
            if state == "connected":
                self.state = "connected"
                self._connected.set()
            elif state in ("closing", "closed"):
                reason = message.get("end_reason") or message.get("reason")
                self.end_reason = reason if isinstance(reason, str) else self.end_reason
                if state == "closed":
                    self._closed(self.end_reason or "closed")
                elif self.state != "closed":
                    # Nothing more is sent; the why comes with "closed" or the socket's end.
                    self.state = "closing"
                    self._connected.set()
            return
        if isinstance(kind, str) and kind in _EVENTS:
            event_id = message.get("event_id")
            self._emit(_EVENTS[kind], event_id if isinstance(event_id, str) else None)

    def _closed(self, reason: str) -> None:
        if self.state == "closed":
            return  # said once, with the first reason known
        self.state = "closed"
        self._connected.set()
        self._emit("closed", None, reason)

    def _emit(self, kind: str, utterance_id: str | None, detail: str | None = None) -> None:
        if self._listener is not None:
            self._listener(FaceEvent(kind, utterance_id, time.monotonic(), detail))

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        self.state = "closed"
