"""A fake ElevenLabs voice API on loopback: instant voice cloning as the real one takes it.

``POST /v1/voices/add`` (multipart: ``name``, ``files`` — each must be readable audio; header
``xi-api-key``) → ``{voice_id, requires_verification}``; ``DELETE /v1/voices/{voice_id}``.
Errors as ElevenLabs sends them: ``{"detail": {"status", "message"}}``; knobs for failures
and rate limits (429 with ``Retry-After``).
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import soundfile
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.loopback import serve


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"detail": {"status": code, "message": message}}, status_code=status, headers=headers
    )


class FakeElevenLabs:
    """Voices made so far, and knobs: ``fail_status`` / ``retry_after_s`` for the next calls."""

    def __init__(self, api_key: str = "xi-test-key") -> None:
        self.api_key = api_key
        self.voices: dict[str, dict[str, Any]] = {}
        self.fail_status: int | None = None
        self.retry_after_s: int | None = None
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/voices/add", self._add, methods=["POST"]),
                Route("/v1/voices/{voice_id}", self._delete, methods=["DELETE"]),
            ]
        )

    @contextmanager
    def serve(self) -> Iterator[str]:
        with serve(self.app) as server:
            yield server.base_url

    def _refusal(self, request: Request) -> JSONResponse | None:
        if request.headers.get("xi-api-key") != self.api_key:
            return _error(401, "invalid_api_key", "Invalid API key")
        if self.fail_status == 429:
            headers = {"retry-after": str(self.retry_after_s)} if self.retry_after_s else {}
            return _error(429, "too_many_concurrent_requests", "Too many requests", **headers)
        if self.fail_status is not None:
            return _error(self.fail_status, "internal_error", "Something went wrong")
        return None

    async def _add(self, request: Request) -> JSONResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        async with request.form() as form:
            name = form.get("name")
            files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            if not isinstance(name, str) or not name.strip():
                return _error(422, "invalid_request", "Field 'name' is required")
            if not files:
                return _error(422, "invalid_request", "Field 'files' is required")
            seconds = 0.0
            for upload in files:
                try:
                    info = soundfile.info(io.BytesIO(await upload.read()))
                except RuntimeError:
                    return _error(422, "invalid_audio", f"Could not read {upload.filename}")
                seconds += info.duration
        voice_id = uuid.uuid4().hex[:20]
        with self._lock:
            self.voices[voice_id] = {"name": name, "files": len(files), "seconds": seconds}
        return JSONResponse({"voice_id": voice_id, "requires_verification": False})

    async def _delete(self, request: Request) -> JSONResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        with self._lock:
            found = self.voices.pop(request.path_params["voice_id"], None)
        if found is None:
            return _error(404, "voice_not_found", "A voice with this id was not found")
        return JSONResponse({"status": "ok"})
