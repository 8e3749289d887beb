"""HTTP client of an OpenAI-compatible transcription server (``POST /v1/audio/transcriptions``:
OpenAI, Groq, self-hosted Whisper servers)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from visavis.speech.stt.errors import TranscriptionError


class OpenAITranscriptionAPI:
    """One server; every request times out after ``timeout_s``. ``aclose`` is idempotent."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )
        self._timeout_s = timeout_s

    async def transcribe(
        self,
        audio: bytes,
        *,
        model: str,
        filename: str = "audio.wav",
        content_type: str = "audio/wav",
        language: str | None = None,
        prompt: str | None = None,
    ) -> dict[str, Any]:
        """The server's ``verbose_json`` answer (segments and words when it times them)."""
        data: dict[str, str | list[str]] = {
            "model": model,
            "response_format": "verbose_json",
            "timestamp_granularities[]": ["word", "segment"],
        }
        if language:
            data["language"] = language
        if prompt:
            data["prompt"] = prompt
        try:
            response = await self._client.post(
                "/audio/transcriptions",
                data=data,
                files={"file": (filename, audio, content_type)},
            )
        except httpx.TimeoutException as exc:
            raise TranscriptionError(
                f"the transcription server at {self.base_url} did not answer within "
                f"{self._timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise TranscriptionError(
                f"cannot reach the transcription server at {self.base_url}: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise TranscriptionError(_refusal(response))
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TranscriptionError(
                f"the transcription server answered {response.status_code} with no JSON"
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise TranscriptionError("the transcription server's answer has no 'text'")
        return body

    async def aclose(self) -> None:
        await self._client.aclose()


def _refusal(response: httpx.Response) -> str:
    message = ""
    try:
        error = response.json().get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or "")
        elif isinstance(error, str):
            message = error
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        message = response.text[:200]
    hint = {
        401: " (check VISAVIS_STT_OPENAI_API_KEY)",
        404: " (check VISAVIS_STT_OPENAI_BASE_URL and VISAVIS_STT_OPENAI_MODEL)",
        429: " (rate limited by the server)",
    }.get(response.status_code, "")
    return f"the transcription server refused with {response.status_code}{hint}: {message}".strip(
        ": "
    )
