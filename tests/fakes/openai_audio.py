"""A fake OpenAI-compatible transcription server, on loopback, with knobs for failures.

Speaks the real contract of ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``,
``language``, ``prompt``, ``response_format`` json | text | srt | vtt | verbose_json,
``timestamp_granularities[]``): the reply's text is a knob (``transcript``), its words spread
evenly over the audio's real duration, read from the WAV it was sent (a file that is not a
WAV is refused with 400, as a server that cannot decode it would). As OpenAI's do, the
``gpt-4o-transcribe`` family answers only json or text: any other ``response_format`` gets the
400 that names ``response_format``. ``words_in_segments`` answers as some self-hosted servers
do, each segment holding its words and no top-level list. Requests are recorded.
Run it alone with ``python -m tests.fakes.openai_audio --port 8082``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import threading
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import serve


class FakeAudioConfig(BaseModel):
    """The knobs; every field can be changed between requests."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    transcript: str = "Hello from the fake transcription server."
    #: The key the server expects (None: any, or none).
    api_key: str | None = None
    #: Pause before answering.
    response_delay_s: float = Field(default=0.0, ge=0)
    #: Answer with this HTTP status instead of a transcription ...
    fail_status: int | None = Field(default=None, ge=400, le=599)
    #: ... for this many requests (None: every request).
    fail_times: int | None = Field(default=None, ge=1)
    #: Answer 200 with a body that is not JSON.
    malformed: bool = False
    #: verbose_json puts each segment's words inside it instead of a top-level ``words``.
    words_in_segments: bool = False


class FakeOpenAIAudio:
    """The fake's state and its ASGI app; thread-safe."""

    def __init__(self, **config: Any) -> None:
        self._lock = threading.Lock()
        self._config = FakeAudioConfig(**config)
        self._requests: list[dict[str, Any]] = []
        self._failures = 0
        self.app = Starlette(
            routes=[Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"])]
        )

    @property
    def config(self) -> FakeAudioConfig:
        with self._lock:
            return self._config.model_copy()

    def configure(self, **changes: Any) -> None:
        """Change some knobs (validated); the others keep their values."""
        with self._lock:
            self._config = FakeAudioConfig(**{**self._config.model_dump(), **changes})

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests: headers, form fields (lists), file name, audio duration."""
        with self._lock:
            return [dict(entry) for entry in self._requests]

    @contextmanager
    def serve(self, *, port: int | None = None) -> Iterator[str]:
        """Serve on loopback for the block; yields the base URL (ending in ``/v1``)."""
        with serve(self.app, port=port) as server:
            yield f"{server.base_url}/v1"

    async def _transcriptions(self, request: Request) -> Response:
        config = self.config
        fields: dict[str, list[str]] = {}
        filename: str | None = None
        audio = b""
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key == "file":
                        filename, audio = value.filename, await value.read()
                else:
                    fields.setdefault(key, []).append(value)
        duration = _wav_duration(audio)
        entry = {
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "fields": fields,
            "filename": filename,
            "duration": duration,
        }
        with self._lock:
            self._requests.append(entry)
        if config.response_delay_s:
            await asyncio.sleep(config.response_delay_s)
        expected = f"Bearer {config.api_key}"
        if config.api_key is not None and request.headers.get("authorization") != expected:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if self._take_failure(config):
            return _error(config.fail_status or 500, "The server had an error.", "server_error")
        if filename is None or "model" not in fields:
            return _error(400, "You must provide a file and a model.", "invalid_request_error")
        if duration is None:
            return _error(400, "The audio file could not be decoded.", "invalid_request_error")
        if config.malformed:
            return PlainTextResponse("<html>gateway</html>", status_code=200)
        fmt = (fields.get("response_format") or ["json"])[0]
        model = fields["model"][0]
        if _text_only(model) and fmt not in ("json", "text"):
            return _error(
                400,
                f"response_format '{fmt}' is not compatible with model '{model}'. "
                "Use 'json' or 'text' instead.",
                "unsupported_value",
                param="response_format",
            )
        return _render(config, duration, fmt, fields, model=model)

    def _take_failure(self, config: FakeAudioConfig) -> bool:
        if config.fail_status is None:
            return False
        with self._lock:
            if config.fail_times is not None and self._failures >= config.fail_times:
                return False
            self._failures += 1
            return True


def _wav_duration(audio: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(audio)) as wav:
            return wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError):
        return None


def _words(text: str, duration: float) -> list[dict[str, Any]]:
    tokens = text.split()
    step = duration / max(len(tokens), 1)
    return [
        {"word": token, "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
        for i, token in enumerate(tokens)
    ]


def _text_only(model: str) -> bool:
    return model.startswith("gpt-4o") and "transcribe" in model


def _render(
    config: FakeAudioConfig,
    duration: float,
    fmt: str,
    fields: dict[str, list[str]],
    *,
    model: str,
) -> Response:
    text = config.transcript
    if fmt == "text":
        return PlainTextResponse(text)
    if fmt in ("srt", "vtt"):
        head = "WEBVTT\n\n" if fmt == "vtt" else "1\n"
        sep = "." if fmt == "vtt" else ","
        return PlainTextResponse(f"{head}00:00:00{sep}000 --> {_clock(duration, sep)}\n{text}\n")
    if fmt != "verbose_json":
        if _text_only(model):
            tokens = len(text.split())
            audio_tokens = round(duration * 10)
            usage: dict[str, Any] = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": tokens,
                "total_tokens": audio_tokens + tokens,
            }
        else:
            usage = {"type": "duration", "seconds": max(1, round(duration))}
        return JSONResponse({"text": text, "usage": usage})
    granularities = fields.get("timestamp_granularities[]") or ["segment"]
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": "english",
        "duration": duration,
        "text": text,
    }
    words = _words(text, duration) if "word" in granularities else None
    if "segment" in granularities or (words and config.words_in_segments):
        segment: dict[str, Any] = {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": duration,
            "text": text,
            "tokens": [],
        }
        if words and config.words_in_segments:
            segment["words"] = words
        body["segments"] = [segment]
    if words and not config.words_in_segments:
        body["words"] = words
    return JSONResponse(body)


def _clock(seconds: float, sep: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _error(status: int, message: str, code: str, *, param: str | None = None) -> JSONResponse:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }
    return JSONResponse(body, status_code=status)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible transcription server")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(FakeOpenAIAudio().app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
