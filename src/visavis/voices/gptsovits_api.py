"""The GPT-SoVITS ``api_v2`` server (``POST /tts``), over httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from visavis.voices.cloning import CloningRejected, CloningUnavailable


class GPTSoVITSAPI:
    """A thin client of one server (default ``http://127.0.0.1:9880``)."""

    def __init__(self, *, base_url: str = "http://127.0.0.1:9880", timeout_s: float = 60.0):
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def tts(self, params: dict[str, Any]) -> bytes:
        """Synthesize with ``params`` (``text``, ``text_lang``, ``ref_audio_path``, ...)."""
        try:
            response = await self._http.post("/tts", json=params)
        except httpx.HTTPError as exc:
            raise CloningUnavailable(f"the GPT-SoVITS server could not be reached: {exc}") from exc
        self._raise_for(response)
        return response.content

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if response.status_code in (400, 422):
            try:
                message = str(response.json().get("message") or response.text[:200])
            except ValueError:
                message = response.text[:200]
            raise CloningRejected(f"GPT-SoVITS refused the request: {message}")
        if not response.is_success:
            raise CloningUnavailable(f"the GPT-SoVITS server answered {response.status_code}")

    async def stream_tts(self, params: dict[str, Any]) -> AsyncIterator[bytes]:
        """``POST /tts`` with ``streaming_mode``: the body's bytes as they arrive."""
        try:
            async with self._http.stream(
                "POST", "/tts", json=params | {"streaming_mode": True}
            ) as response:
                if not response.is_success:
                    await response.aread()
                    self._raise_for(response)
                async for data in response.aiter_bytes():
                    yield data
        except httpx.HTTPError as exc:
            raise CloningUnavailable(f"the GPT-SoVITS server could not be reached: {exc}") from exc

    async def aclose(self) -> None:
        await self._http.aclose()
