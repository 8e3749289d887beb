"""The ElevenLabs voice API (``/v1/voices/add``, ``DELETE /v1/voices/{id}``), over httpx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from visavis.voices.cloning import CloningRejected, CloningUnavailable

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_MODEL = "eleven_flash_v2_5"
SPEECH_RATE = 24000


def _message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("status") or detail)
    return str(detail or body)[:200]


class ElevenLabsAPI:
    """A thin client: one method per endpoint, errors as cloning errors; the key never logged."""

    def __init__(self, *, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout_s: float = 60.0):
        if not api_key:
            raise ValueError("an ElevenLabs API key is needed (xi-api-key)")
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"xi-api-key": api_key}, timeout=timeout_s
        )

    def _raise_for(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        message = f"ElevenLabs answered {response.status_code}: {_message(response)}"
        if response.status_code == 429 or response.status_code >= 500:
            retry = response.headers.get("retry-after")
            raise CloningUnavailable(
                message, retry_after_s=float(retry) if retry and retry.isdigit() else None
            )
        raise CloningRejected(message)

    async def add_voice(
        self, *, name: str, files: list[tuple[str, bytes]], description: str | None = None
    ) -> str:
        """Instant voice cloning; returns the new ``voice_id``."""
        data = {"name": name} | ({"description": description} if description else {})
        upload = [("files", (filename, content, "audio/wav")) for filename, content in files]
        try:
            response = await self._http.post("/v1/voices/add", data=data, files=upload)
        except httpx.HTTPError as exc:
            raise CloningUnavailable(f"ElevenLabs could not be reached: {exc}") from exc
        self._raise_for(response)
        voice_id = response.json().get("voice_id")
        if not isinstance(voice_id, str) or not voice_id:
            raise CloningUnavailable("ElevenLabs answered without a voice_id")
        return voice_id

    async def delete_voice(self, voice_id: str) -> None:
        """Delete a voice; a voice already gone is fine."""
        try:
            response = await self._http.delete(f"/v1/voices/{voice_id}")
        except httpx.HTTPError as exc:
            raise CloningUnavailable(f"ElevenLabs could not be reached: {exc}") from exc
        if response.status_code != 404:
            self._raise_for(response)

    async def stream_speech(
        self, voice_id: str, text: str, *, model_id: str = DEFAULT_MODEL
    ) -> AsyncIterator[dict[str, Any]]:
        """``/v1/text-to-speech/{voice_id}/stream/with-timestamps`` as PCM 24 kHz: one JSON
        object per line, ``audio_base64`` and the character ``alignment`` of that audio."""
        try:
            async with self._http.stream(
                "POST",
                f"/v1/text-to-speech/{voice_id}/stream/with-timestamps",
                params={"output_format": f"pcm_{SPEECH_RATE}"},
                json={"text": text, "model_id": model_id},
            ) as response:
                if not response.is_success:
                    await response.aread()
                    self._raise_for(response)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.HTTPError as exc:
            raise CloningUnavailable(f"ElevenLabs could not be reached: {exc}") from exc

    async def aclose(self) -> None:
        await self._http.aclose()
