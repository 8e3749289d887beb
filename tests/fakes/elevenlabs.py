"""A fake ElevenLabs voice API on loopback: instant voice cloning as the real one takes it.

``POST /v1/voices/add`` (multipart: ``name``, ``files`` — each must be readable audio; header
``xi-api-key``) → ``{voice_id, requires_verification}``; ``DELETE /v1/voices/{voice_id}``;
``POST /v1/text-to-speech/{voice_id}/stream/with-timestamps?output_format=pcm_24000``
(``{text, model_id}``) → JSON lines of base64 PCM with the characters' ``alignment``.
Errors as ElevenLabs sends them: ``{"detail": {"status", "message"}}``; knobs for failures
and rate limits (429 with ``Retry-After``), for slow cloning (``add_delay_s``), and for
speech that is slow to start (``speech_delay_s``), fails (``speech_fail_status``) or breaks
off (``speech_break_after``).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import soundfile
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import serve
from tests.fakes.speech_audio import character_times, spoken


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
        self.speech_delay_s = 0.0
        self.add_delay_s = 0.0
        self.speech_fail_status: int | None = None
        self.speech_break_after: int | None = None
        self.spoken: list[str] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/voices/add", self._add, methods=["POST"]),
                Route("/v1/voices/{voice_id}", self._delete, methods=["DELETE"]),
                Route(
                    "/v1/text-to-speech/{voice_id}/stream/with-timestamps",
                    self._speech,
                    methods=["POST"],
                ),
            ]
        )

    @contextmanager
    def serve(self) -> Iterator[str]:
        spoken("Ready.", 16000)  # load the speech library before the first request
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
        await asyncio.sleep(self.add_delay_s)
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

    async def _speech(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if self.speech_fail_status is not None:
            return _error(self.speech_fail_status, "internal_error", "Something went wrong")
        if request.path_params["voice_id"] not in self.voices:
            return _error(404, "voice_not_found", "A voice with this id was not found")
        if request.query_params.get("output_format", "mp3_44100_128") != "pcm_24000":
            return _error(422, "invalid_output_format", "this fake speaks pcm_24000 only")
        body = await request.json()
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _error(422, "invalid_request", "Field 'text' is required")
        self.spoken.append(text)
        return StreamingResponse(self._lines(text), media_type="application/json")

    async def _lines(self, text: str) -> AsyncIterator[bytes]:
        await asyncio.sleep(self.speech_delay_s)
        pcm = spoken(text, 24000)
        starts, ends = character_times(text, len(pcm) / 24000)
        # Three lines, cut anywhere (mid-word too), as the service does.
        cuts = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
        bounds = [0, *(int(ends[c - 1] * 24000) for c in cuts[1:3]), len(pcm)]
        for line in range(3):
            if self.speech_break_after is not None and line >= self.speech_break_after:
                raise ConnectionResetError("the fake breaks the stream off")
            first, last = cuts[line], cuts[line + 1]
            audio = pcm[bounds[line] : bounds[line + 1]]
            alignment = {
                "characters": list(text[first:last]),
                "character_start_times_seconds": starts[first:last],
                "character_end_times_seconds": ends[first:last],
            }
            data = {
                "audio_base64": base64.b64encode(audio.astype("<i2").tobytes()).decode(),
                "alignment": alignment,
                "normalized_alignment": alignment,
            }
            yield (json.dumps(data) + "\n").encode()
            await asyncio.sleep(0.01)
