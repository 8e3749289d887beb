"""A fake GPT-SoVITS ``api_v2`` server on loopback, with the real server's rules.

``POST /tts`` (JSON): ``text``, ``text_lang``, ``ref_audio_path``, ``prompt_lang`` required;
the reference is a path **on the server's host** (here: under ``server_dir``, mapped to a
local directory) and must be 3-10 s long; errors are 400 ``{"message": ...}``. Success is a
WAV (32 kHz); with ``streaming_mode`` a chunked body: a WAV header of zero frames, then raw
PCM16 of the text spoken (eSpeak NG stands in for the voice). ``overlapping`` counts
overlapping requests, which a shared server must never see. Knobs: ``speech_delay_s`` (slow
first audio), ``fail_status`` (every request fails), ``break_after`` (streams break off).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import serve
from tests.fakes.speech_audio import spoken

REQUIRED = ("text", "text_lang", "ref_audio_path", "prompt_lang")


class FakeGPTSoVITS:
    """One server; ``host_dir`` is what it sees as ``server_dir``."""

    def __init__(self, host_dir: Path, server_dir: str = "/srv/refs") -> None:
        self.host_dir = host_dir
        self.server_dir = PurePosixPath(server_dir)
        self.synthesis_s = 0.05
        self.overlapping = 0
        self.speech_delay_s = 0.0
        self.fail_status: int | None = None
        self.break_after: int | None = None
        self.spoken: list[str] = []
        self._active = 0
        self.app = Starlette(routes=[Route("/tts", self._tts, methods=["POST"])])

    @contextmanager
    def serve(self) -> Iterator[str]:
        spoken("Ready.", 16000)  # load the speech library before the first request
        with serve(self.app) as server:
            yield server.base_url

    async def _tts(self, request: Request) -> Response:
        if self.fail_status is not None:
            return JSONResponse({"message": "server error"}, status_code=self.fail_status)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"message": "the body must be JSON"}, status_code=400)
        missing = [k for k in REQUIRED if not body.get(k)]
        if missing:
            return JSONResponse({"message": f"{missing[0]} is required"}, status_code=400)
        path = PurePosixPath(str(body["ref_audio_path"]))
        if not path.is_relative_to(self.server_dir):
            return JSONResponse({"message": f"{path} not found"}, status_code=400)
        local = self.host_dir / path.relative_to(self.server_dir)
        if not local.is_file():
            return JSONResponse({"message": f"{path} not found"}, status_code=400)
        seconds = soundfile.info(str(local)).duration
        if not 3.0 <= seconds <= 10.0:
            return JSONResponse(
                {"message": "Reference audio is outside the 3-10 second range"}, status_code=400
            )
        if body.get("streaming_mode"):
            self.spoken.append(str(body["text"]))
            return StreamingResponse(self._stream(str(body["text"])), media_type="audio/wav")
        self._active += 1
        self.overlapping = max(self.overlapping, self._active)
        try:
            await asyncio.sleep(self.synthesis_s)
        finally:
            self._active -= 1
        buffer = io.BytesIO()
        soundfile.write(buffer, np.zeros(16000, dtype=np.int16), 32000, format="WAV")
        return Response(buffer.getvalue(), media_type="audio/wav")

    async def _stream(self, text: str) -> AsyncIterator[bytes]:
        self._active += 1
        self.overlapping = max(self.overlapping, self._active)
        try:
            await asyncio.sleep(self.speech_delay_s)
            header = io.BytesIO()
            soundfile.write(header, np.zeros(0, dtype=np.int16), 32000, format="WAV")
            yield header.getvalue()[:44]
            pcm = spoken(text, 32000).astype("<i2").tobytes()
            step = 32000  # half a second a piece
            for index, start in enumerate(range(0, len(pcm), step)):
                if self.break_after is not None and index >= self.break_after:
                    raise ConnectionResetError("the fake breaks the stream off")
                yield pcm[start : start + step]
                await asyncio.sleep(0.005)
        finally:
            self._active -= 1
