"""A fake OpenAI-compatible chat-completions server, on loopback, with knobs for failures.

Speaks the real contract: ``POST /v1/chat/completions`` (SSE chunks exactly like OpenAI's
when ``stream`` is true, a ``chat.completion`` object otherwise) and ``GET /v1/models``.
Knobs are set from Python (``FakeOpenAI.configure``) or over HTTP (``POST /_fake/config``);
requests are recorded (``GET /_fake/requests``). Run it alone with
``python -m tests.fakes.openai_compatible --port 8081``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import serve

_TOKEN = re.compile(r"\s*\S+|\s+")
_POLL_S = 0.02


class FakeOpenAIConfig(BaseModel):
    """The knobs; every field can be changed between requests."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: Replies given in order, one per completion request; then ``default_reply``.
    replies: list[str] = Field(default_factory=list)
    default_reply: str = "Hello from the fake model. How can I help you today?"
    #: Pause before every content chunk after the first.
    token_delay_s: float = Field(default=0.0, ge=0)
    #: Pause before the response starts (no status line, no headers).
    response_delay_s: float = Field(default=0.0, ge=0)
    #: Pause after the role chunk, before the first content chunk.
    first_token_delay_s: float = Field(default=0.0, ge=0)
    #: Stop sending (keep the connection open) after this many content chunks.
    stall_after_tokens: int | None = Field(default=None, ge=0)
    stall_s: float = Field(default=3600.0, ge=0)
    #: Answer with this HTTP status (401, 429, 500, ...) instead of a completion ...
    fail_status: int | None = Field(default=None, ge=400, le=599)
    #: ... for this many requests (None: every request).
    fail_times: int | None = Field(default=None, ge=1)
    #: ``Retry-After`` header (seconds) sent with a failure.
    retry_after_s: float | None = Field(default=None, ge=0)
    #: After this many content chunks, send a broken chunk instead of the next one.
    malformed_after_tokens: int | None = Field(default=None, ge=0)
    malformed_kind: Literal["not_json", "error_object", "wrong_shape"] = "not_json"
    #: When set, requests must carry ``Authorization: Bearer <this>`` or get a 401.
    required_api_key: str | None = None
    model_ids: list[str] = Field(default_factory=lambda: ["fake-model"])


class FakeOpenAI:
    """The fake's state (config, recorded requests) and its ASGI app; thread-safe."""

    def __init__(self, **config: Any) -> None:
        self._lock = threading.Lock()
        self._config = FakeOpenAIConfig(**config)
        self._requests: list[dict[str, Any]] = []
        self._completions = 0
        self._failures = 0
        self._generation = 0  # bumped by release(): ends every stall in progress
        self._open_streams = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/_fake/config", self._set_config, methods=["POST"]),
                Route("/_fake/config", self._get_config, methods=["GET"]),
                Route("/_fake/requests", self._get_requests, methods=["GET"]),
                Route("/_fake/reset", self._reset, methods=["POST"]),
            ]
        )

    # --- Python side ------------------------------------------------------------------
    @property
    def config(self) -> FakeOpenAIConfig:
        with self._lock:
            return self._config.model_copy()

    def configure(self, **changes: Any) -> None:
        """Change some knobs (validated); the others keep their values."""
        with self._lock:
            self._config = FakeOpenAIConfig(**{**self._config.model_dump(), **changes})

    def reset(self) -> None:
        """Back to the default knobs, forget recorded requests, end stalls in progress."""
        with self._lock:
            self._config = FakeOpenAIConfig()
            self._requests.clear()
            self._completions = 0
            self._failures = 0
            self._generation += 1

    def release(self) -> None:
        """End every stall in progress (those streams close without finishing)."""
        with self._lock:
            self._generation += 1

    @property
    def open_streams(self) -> int:
        """Streamed responses still being written (a client that left is noticed in ~20 ms)."""
        with self._lock:
            return self._open_streams

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests: method, path, headers (lower-case names), json body."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    @contextmanager
    def serve(self, *, port: int | None = None) -> Iterator[str]:
        """Serve on loopback for the block; yields the base URL (ending in ``/v1``)."""
        with serve(self.app, port=port) as server:
            try:
                yield f"{server.base_url}/v1"
            finally:
                self.release()

    # --- HTTP side --------------------------------------------------------------------
    async def _chat_completions(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_json")
        with self._lock:
            config = self._config.model_copy()
            self._requests.append(_record(request, body))
            generation = self._generation
        if await _wait(request, config.response_delay_s, lambda: self._generation != generation):
            return Response(status_code=499)
        if config.required_api_key is not None:
            expected = f"Bearer {config.required_api_key}"
            if request.headers.get("authorization") != expected:
                return _error(
                    401, "Incorrect API key provided.", "invalid_api_key", "invalid_request_error"
                )
        if config.fail_status is not None and self._take_failure(config):
            return _failure(config)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is a required property", None, "invalid_request_error")
        model = str(body.get("model", "fake-model"))
        if model not in config.model_ids:
            return _error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "model_not_found",
            )
        reply = self._next_reply(config)
        if body.get("stream"):
            chunks = self._chunks(request, config, model, reply, body, generation)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(_completion(model, reply, body))

    async def _models(self, request: Request) -> Response:
        with self._lock:
            self._requests.append(_record(request, None))
            ids = list(self._config.model_ids)
        data = [
            {"id": i, "object": "model", "created": 1700000000, "owned_by": "fake"} for i in ids
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _set_config(self, request: Request) -> Response:
        try:
            self.configure(**json.loads(await request.body()))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(self.config.model_dump())

    async def _get_config(self, request: Request) -> Response:
        return JSONResponse(self.config.model_dump())

    async def _get_requests(self, request: Request) -> Response:
        return JSONResponse(self.requests)

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse(self.config.model_dump())

    def _take_failure(self, config: FakeOpenAIConfig) -> bool:
        with self._lock:
            if config.fail_times is not None and self._failures >= config.fail_times:
                return False
            self._failures += 1
            return True

    def _next_reply(self, config: FakeOpenAIConfig) -> str:
        with self._lock:
            index = self._completions
            self._completions += 1
        return config.replies[index] if index < len(config.replies) else config.default_reply

    async def _chunks(
        self,
        request: Request,
        config: FakeOpenAIConfig,
        model: str,
        reply: str,
        body: dict[str, Any],
        generation: int,
    ) -> AsyncIterator[str]:
        def released() -> bool:
            return self._generation != generation

        with self._lock:
            self._open_streams += 1
        try:
            head = _chunk_head(model)
            yield _sse({**head, "choices": [_choice({"role": "assistant", "content": ""})]})
            if await _wait(request, config.first_token_delay_s, released):
                return
            for sent, token in enumerate(_TOKEN.findall(reply)):
                if sent == config.stall_after_tokens:
                    await _wait(request, config.stall_s, released)
                    return
                if sent == config.malformed_after_tokens:
                    yield _malformed(config.malformed_kind, head)
                    return
                if sent and await _wait(request, config.token_delay_s, released):
                    return
                yield _sse({**head, "choices": [_choice({"content": token})]})
            yield _sse({**head, "choices": [_choice({}, finish_reason="stop")]})
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _sse({**head, "choices": [], "usage": _usage(body, reply)})
            yield "data: [DONE]\n\n"
        finally:
            with self._lock:
                self._open_streams -= 1


async def _wait(request: Request, seconds: float, released: Any) -> bool:
    """Sleep up to ``seconds``; True if the client left (or the fake was released) meanwhile."""
    if seconds <= 0:
        return False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if released() or await request.is_disconnected():
            return True
        await asyncio.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))
    return False


def _record(request: Request, body: Any) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.url.path,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "json": body,
        "time": time.time(),
    }


def _error(
    status: int, message: str, code: str | None, kind: str = "invalid_request_error"
) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def _failure(config: FakeOpenAIConfig) -> Response:
    status = config.fail_status or 500
    if status == 401:
        response = _error(401, "Incorrect API key provided.", "invalid_api_key")
    elif status == 429:
        response = _error(
            429,
            "Rate limit reached for requests. Please try again later.",
            "rate_limit_exceeded",
            "requests",
        )
    elif status >= 500:
        response = _error(
            status, "The server had an error while processing your request.", None, "server_error"
        )
    else:
        response = _error(status, f"Fake failure with status {status}.", None)
    if config.retry_after_s is not None:
        response.headers["retry-after"] = f"{config.retry_after_s:g}"
    return response


def _chunk_head(model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _malformed(kind: str, head: dict[str, Any]) -> str:
    if kind == "error_object":
        error = {"message": "The model produced invalid content.", "type": "server_error"}
        return _sse({"error": error})
    if kind == "wrong_shape":
        return _sse({**head, "choices": [{"index": 0, "delta": {"content": 42}}]})
    return 'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "unterminated\n\n'


def _usage(body: dict[str, Any], reply: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(_TOKEN.findall(reply))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(model: str, reply: str, body: dict[str, Any]) -> dict[str, Any]:
    message = {"role": "assistant", "content": reply, "refusal": None}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(body, reply),
        "system_fingerprint": "fp_fake",
    }


def main() -> None:
    """Run the fake in the foreground: ``python -m tests.fakes.openai_compatible --port N``."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    print(f"fake OpenAI-compatible server: http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(FakeOpenAI().app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
