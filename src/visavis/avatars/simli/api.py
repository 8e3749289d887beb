"""Simli's HTTP and WebSocket client: a session token, then one socket that carries our audio.

Contract: shared/reference/provider-apis.md §3. ``POST /compose/token`` (``x-simli-api-key``)
gives a session token; the socket ``/compose/webrtc/livekit?session_token=`` first answers the
browser's LiveKit credentials, then takes binary PCM16 mono 16 kHz frames, ``SKIP`` (drop what
is buffered: interrupt) and ``DONE`` (play the rest, then close). Simli's text frames are
``START``, ``ACK``, ``SPEAK``, ``SILENT``, ``STOP``, ``ERROR ...``, ``RATE ...``,
``CLOSING ...``. The session ends with its socket, at ``maxIdleTime`` or ``maxSessionLength``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from visavis.avatars.audio_stream import AudioChannel
from visavis.avatars.base import FaceEvent, FaceListener
from visavis.avatars.errors import (
    ProviderError,
    ProviderInvalidRequest,
    ProviderProtocolError,
    ProviderSessionStateError,
    ProviderTimeout,
    ProviderUnavailable,
)
from visavis.avatars.transport import (
    JSONDict,
    ProviderCallObserver,
    common_refusal,
    decode_json,
    path_template,
    send,
)

PROVIDER = "simli"
DEFAULT_BASE_URL = "https://api.simli.ai"
SAMPLE_RATE = 16000
#: What Simli puts in place of a token when it refuses one (not a secret).
FAILED_TOKEN = "FAIL TOKEN"  # noqa: S105
_EVENTS = {"SPEAK": "speak_started", "SILENT": "speak_ended", "STOP": "speak_interrupted"}


@dataclass(frozen=True, slots=True)
class SimliMedia:
    """What the browser joins: Simli's LiveKit room."""

    livekit_url: str
    livekit_token: str = field(repr=False)


def simli_error(response: httpx.Response, body: JSONDict | None) -> ProviderError:
    """The typed error of a refusal (400 ``FAIL TOKEN`` with a detail, 401, 422, 429, 5xx)."""
    detail = body.get("detail") if body else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        detail = detail[0].get("msg")
    message = detail if isinstance(detail, str) and detail else f"HTTP {response.status_code}"
    common = common_refusal(
        response, provider=PROVIDER, message=message, provider_code=None, auth_codes=frozenset()
    )
    if common is not None:
        return common
    if response.status_code in (400, 404, 422):
        return ProviderInvalidRequest(message, provider=PROVIDER, status=response.status_code)
    return ProviderError(message, provider=PROVIDER, status=response.status_code)


class SimliAPI:
    """Async REST client of Simli; every call has a timeout; ``aclose`` is idempotent."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        observer: ProviderCallObserver | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("Simli needs an API key")
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._key = {"x-simli-api-key": api_key}
        self._client = httpx.AsyncClient(headers={"Accept": "application/json"})
        self._observer = observer
        self._closed = False

    @property
    def base_url(self) -> str:
        return self._base_url

    def socket_url(self, session_token: str) -> str:
        """The session's WebSocket (``ws`` for an ``http`` base, ``wss`` for ``https``)."""
        root = self._base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{root}/compose/webrtc/livekit?session_token={quote(session_token)}"

    async def create_token(self, *, face_id: str, max_session_s: int, max_idle_s: int) -> str:
        """A session token for ``face_id`` (``POST /compose/token``)."""
        body = {
            "faceId": face_id,
            "apiVersion": "v2",
            "handleSilence": True,
            "maxSessionLength": max_session_s,
            "maxIdleTime": max_idle_s,
            "audioInputFormat": "pcm16",
        }
        answer = await self._json("POST", "/compose/token", json_body=body)
        token = answer.get("session_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token or token == FAILED_TOKEN:
            raise ProviderProtocolError("compose/token gave no session token", provider=PROVIDER)
        return token

    async def list_faces(self) -> list[JSONDict]:
        """The account's faces (``GET /faces``)."""
        answer = await self._json("GET", "/faces")
        return (
            [item for item in answer if isinstance(item, dict)] if isinstance(answer, list) else []
        )

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def _json(
        self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None
    ) -> Any:
        if self._closed:
            raise ProviderError("the Simli client is closed", provider=PROVIDER)
        response = await send(
            self._client,
            method,
            self._base_url + path,
            provider=PROVIDER,
            timeout_s=self._timeout_s,
            headers=self._key,
            json_body=json_body,
            observer=self._observer,
            endpoint=path_template(path),
        )
        try:
            parsed = json.loads(response.content) if response.content else None
        except ValueError:
            parsed = None
        if not 200 <= response.status_code < 300 or parsed is None:
            raise simli_error(response, decode_json(response))
        if isinstance(parsed, dict) and parsed.get("session_token") == FAILED_TOKEN:
            raise simli_error(response, parsed)
        return parsed


class SimliSocket(AudioChannel):
    """One Simli session's socket: LiveKit credentials first, then our audio."""

    logger = logging.getLogger(__name__)

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0, send_timeout_s: float = 5.0):
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.send_timeout_s = send_timeout_s
        self.state = "new"
        self.end_reason: str | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._listener: FaceListener | None = None

    async def connect(self) -> SimliMedia:
        """Open the socket and read the browser's LiveKit credentials."""
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                # Raw PCM barely compresses: per-message deflate would only cost CPU.
                self._ws = await connect(self.url, close_timeout=2, compression=None)
                first = json.loads(await self._ws.recv())
        except TimeoutError as exc:
            await self.close()
            raise ProviderTimeout(
                "Simli's socket gave no media in time", provider=PROVIDER
            ) from exc
        except (OSError, InvalidHandshake, InvalidURI, ConnectionClosed, ValueError) as exc:
            await self.close()
            raise ProviderUnavailable(
                f"could not open Simli's socket: {type(exc).__name__}: {exc}", provider=PROVIDER
            ) from exc
        url, token = (
            first.get(k) if isinstance(first, dict) else None
            for k in ("livekit_url", "livekit_token")
        )
        if not isinstance(url, str) or not isinstance(token, str):
            await self.close()
            raise ProviderProtocolError(
                "Simli's socket sent no LiveKit credentials", provider=PROVIDER
            )
        self.state = "open"
        self._reader = asyncio.create_task(self._read(), name="simli-socket")
        return SimliMedia(livekit_url=url, livekit_token=token)

    async def wait_started(self, timeout_s: float) -> None:
        """Wait for Simli's ``START`` (the face is in the room and takes audio)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._started.wait()
        except TimeoutError as exc:
            raise ProviderTimeout("Simli did not START in time", provider=PROVIDER) from exc
        if self.state != "started":
            raise ProviderSessionStateError(
                f"Simli closed the session ({self.end_reason})", provider=PROVIDER
            )

    def set_listener(self, listener: FaceListener | None) -> None:
        self._listener = listener

    async def send_audio(self, utterance_id: str, pcm: bytes) -> None:
        await self._send(pcm)

    async def end_utterance(self, utterance_id: str) -> None:
        """Nothing to send: Simli plays audio as it comes (``DONE`` would end the session)."""

    async def interrupt(self, utterance_id: str | None) -> None:
        await self._send("SKIP")

    async def keep_alive(self) -> None:
        """A tenth of a second of silence: Simli's idle timer counts audio received."""
        await self._send(bytes(SAMPLE_RATE // 10 * 2))

    async def finish(self) -> None:
        """Drop what is buffered and end the session (``SKIP``, then ``DONE``)."""
        if self.state in ("open", "started"):
            try:
                await self._send("SKIP")
                await self._send("DONE")
            except ProviderSessionStateError:
                pass  # already closed by Simli: nothing left to end

    async def _send(self, data: str | bytes) -> None:
        ws = self._ws
        if ws is None or self.state not in ("open", "started"):
            raise ProviderSessionStateError(
                f"Simli's socket is {self.state}"
                + (f" ({self.end_reason})" if self.end_reason else ""),
                provider=PROVIDER,
            )
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await ws.send(data)
        except TimeoutError as exc:
            raise ProviderTimeout(
                "Simli's socket did not take the data", provider=PROVIDER
            ) from exc
        except ConnectionClosed as exc:
            self.state = "closed"
            raise ProviderSessionStateError(
                f"Simli's socket closed: {exc}", provider=PROVIDER
            ) from exc

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    self._handle(raw.strip())
        except ConnectionClosed:
            pass
        finally:
            if self.state != "closed":
                self.state = "closed"
                self._started.set()
                self._emit("closed", self.end_reason or "socket closed")

    def _handle(self, text: str) -> None:
        word, _, rest = text.partition(" ")
        if word == "START":
            self.state = "started"
            self._started.set()
        elif word in _EVENTS:
            self._emit(_EVENTS[word], None)
        elif word in ("CLOSING", "ERROR"):
            self.end_reason = text
            if word == "ERROR":
                self.logger.warning("Simli: %s", text)

    def _emit(self, kind: str, detail: str | None) -> None:
        if self._listener is not None:
            self._listener(FaceEvent(kind, None, time.monotonic(), detail))

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        self.state = "closed"
