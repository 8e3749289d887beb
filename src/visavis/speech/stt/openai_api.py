"""HTTP client of an OpenAI-compatible transcription server (``POST /v1/audio/transcriptions``:
OpenAI, Groq, self-hosted Whisper servers).

Every request asks for ``verbose_json`` with word and segment times. Some models answer only
``json`` (OpenAI's ``gpt-4o-transcribe`` family refuses ``verbose_json`` with a 400 naming
``response_format``): such a model is asked again for ``json`` at once, and from then on
directly, and its transcripts have no times.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from visavis.speech.stt.errors import TranscriptionError

logger = logging.getLogger(__name__)


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
        self._untimed_models: set[str] = set()

    def times_words(self, model: str) -> bool:
        """False once ``model`` refused ``verbose_json``: its answers carry no times."""
        return model not in self._untimed_models

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
        """The server's ``verbose_json`` answer (segments and words when it times them), or
        its ``json`` answer (the text alone) for a model that answers only that."""
        timed = self.times_words(model)
        response = await self._post(
            audio, model, filename, content_type, language, prompt, timed=timed
        )
        if timed and _refuses_verbose_json(response):
            self._untimed_models.add(model)
            logger.warning(
                "the transcription model %r answers only json: its transcripts have no word times",
                model,
            )
            response = await self._post(
                audio, model, filename, content_type, language, prompt, timed=False
            )
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

    async def _post(
        self,
        audio: bytes,
        model: str,
        filename: str,
        content_type: str,
        language: str | None,
        prompt: str | None,
        *,
        timed: bool,
    ) -> httpx.Response:
        data: dict[str, str | list[str]] = {"model": model}
        if timed:
            data["response_format"] = "verbose_json"
            data["timestamp_granularities[]"] = ["word", "segment"]
        else:
            data["response_format"] = "json"
        if language:
            data["language"] = language
        if prompt:
            data["prompt"] = prompt
        try:
            return await self._client.post(
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

    async def aclose(self) -> None:
        await self._client.aclose()


def _refuses_verbose_json(response: httpx.Response) -> bool:
    """A 400 that names ``response_format``, as OpenAI's is for a model without times."""
    if response.status_code != 400:
        return False
    try:
        error = response.json().get("error")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False
    if not isinstance(error, dict):
        return False
    return error.get("param") == "response_format" or "verbose_json" in str(
        error.get("message") or ""
    )


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
