"""Cloning with a self-hosted GPT-SoVITS ``api_v2`` server (zero-shot from a reference clip).

The server reads its reference clip from a path on its own host: the clip is written to a
directory both share (``local_dir`` here, ``server_dir`` as the server sees it), then one
short synthesis proves the server accepts it (3-10 s, readable). The voice id is the clip's
path on the server. Requests to one server are serialized: its model state is process-wide.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path, PurePosixPath

from visavis.speech.tts.base import TTSEngine
from visavis.voices.cloning import (
    ClonedVoice,
    CloneProgress,
    CloneRequest,
    CloningBackend,
    CloningRejected,
    wav_bytes,
)
from visavis.voices.gptsovits_api import GPTSoVITSAPI
from visavis.voices.gptsovits_speech import GPTSoVITSVoice

MIN_REFERENCE_S = 3.0
MAX_REFERENCE_S = 10.0


class GPTSoVITSCloning(CloningBackend):
    """Voices of one GPT-SoVITS server."""

    name = "gptsovits"

    def __init__(
        self, api: GPTSoVITSAPI, *, local_dir: Path, server_dir: str, language: str = "en"
    ) -> None:
        self.api = api
        self.local_dir = local_dir
        self.server_dir = PurePosixPath(server_dir)
        self.language = language
        self._lock = asyncio.Lock()

    async def clone(
        self, request: CloneRequest, *, progress: CloneProgress | None = None
    ) -> ClonedVoice:
        seconds = len(request.reference) / request.sample_rate
        if not MIN_REFERENCE_S <= seconds <= MAX_REFERENCE_S:
            raise CloningRejected(
                f"the reference clip is {seconds:.1f} s; GPT-SoVITS needs 3-10 s of speech"
            )
        name = f"visavis-{uuid.uuid4().hex}.wav"
        local = self.local_dir / name
        await asyncio.to_thread(
            local.write_bytes, wav_bytes(request.reference, request.sample_rate)
        )
        if progress is not None:
            progress(0.3, "reference clip stored")
        server_path = str(self.server_dir / name)
        params = {
            "text": "Hello.",
            "text_lang": self.language,
            "ref_audio_path": server_path,
            "prompt_lang": self.language,
            "prompt_text": request.reference_text or "",
            "media_type": "wav",
        }
        try:
            async with self._lock:
                await self.api.tts(params)
        except BaseException:
            local.unlink(missing_ok=True)
            raise
        if progress is not None:
            progress(1.0, "ready")
        return ClonedVoice(self.name, server_path)

    def speaker(self, voice_id: str) -> TTSEngine:
        return GPTSoVITSVoice(self.api, voice_id, lock=self._lock, language=self.language)

    async def delete(self, voice_id: str) -> None:
        name = PurePosixPath(voice_id).name
        if name.startswith("visavis-") and name.endswith(".wav"):
            (self.local_dir / name).unlink(missing_ok=True)

    async def aclose(self) -> None:
        await self.api.aclose()
