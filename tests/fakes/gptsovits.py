"""A fake GPT-SoVITS ``api_v2`` server on loopback, with the real server's rules.

``POST /tts`` (JSON): ``text``, ``text_lang``, ``ref_audio_path``, ``prompt_lang`` required;
the reference is a path **on the server's host** (here: under ``server_dir``, mapped to a
local directory) and must be 3-10 s long; errors are 400 ``{"message": ...}``. Success is a
WAV (32 kHz). ``busy`` counts overlapping requests, which a shared server must never see.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import serve

REQUIRED = ("text", "text_lang", "ref_audio_path", "prompt_lang")


class FakeGPTSoVITS:
    """One server; ``host_dir`` is what it sees as ``server_dir``."""

    def __init__(self, host_dir: Path, server_dir: str = "/srv/refs") -> None:
        self.host_dir = host_dir
        self.server_dir = PurePosixPath(server_dir)
        self.synthesis_s = 0.05
        self.overlapping = 0
        self._active = 0
        self.app = Starlette(routes=[Route("/tts", self._tts, methods=["POST"])])

    @contextmanager
    def serve(self) -> Iterator[str]:
        with serve(self.app) as server:
            yield server.base_url

    async def _tts(self, request: Request) -> Response:
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
        self._active += 1
        self.overlapping = max(self.overlapping, self._active)
        try:
            await asyncio.sleep(self.synthesis_s)
        finally:
            self._active -= 1
        buffer = io.BytesIO()
        soundfile.write(buffer, np.zeros(16000, dtype=np.int16), 32000, format="WAV")
        return Response(buffer.getvalue(), media_type="audio/wav")
