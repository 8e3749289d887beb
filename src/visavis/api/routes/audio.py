"""``/v1/audio``: OpenAI-compatible speech services — transcriptions (any common audio format
in) and speech (the instance's voice out), plus ``visavis.visemes``: the speech with its mouth
cues, so a client can animate its own avatar from our voice."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from visavis.api.deps import ContextDep, PrincipalDep, get_principal
from visavis.api.event_stream import SSE_MEDIA_TYPE, STREAM_HEADERS, started
from visavis.api.problems import HTTPProblem
from visavis.api.speech_stream import pcm_bytes, speech_events
from visavis.api.transcription_stream import transcription_events
from visavis.context import AppContext
from visavis.speech.decode import decode_audio
from visavis.speech.encode import MEDIA_TYPES as AUDIO_MEDIA_TYPES
from visavis.speech.encode import AudioFormat, encode_audio
from visavis.speech.lipsync import animate
from visavis.speech.stt import STTEngine
from visavis.speech.stt.base import SAMPLE_RATE
from visavis.speech.stt.files import PIECE_MAX_S, speech_pieces, transcribe_pieces
from visavis.speech.stt.formats import MEDIA_TYPES, ResponseFormat, render
from visavis.speech.tts.base import AudioChunk, PhoneTiming, TTSEngine
from visavis.voices.cloning import CloningError, CloningUnavailable

router = APIRouter(prefix="/v1/audio", tags=["audio"], dependencies=[Depends(get_principal)])

SPEECH_SAMPLE_RATE = 24000  # OpenAI's ``pcm`` is 24 kHz 16-bit mono: every format uses it
MAX_SPEECH_CHARS = 4096
VISEMES = "visavis.visemes"
# Batch work yields to live conversations: it is due a little later than their next words.
BATCH_SLACK_S = 1.0


def _stt(ctx: AppContext) -> STTEngine:
    engine = getattr(ctx, "stt_files", None) or getattr(ctx, "stt", None)
    if engine is None:
        raise HTTPProblem(503, "speech recognition is not available on this instance")
    stt: STTEngine = engine
    return stt


@router.post(
    "/transcriptions",
    summary="Transcribe audio (OpenAI-compatible)",
    responses={
        200: {
            "content": {
                "text/plain": {},
                "text/vtt": {},
                "application/x-subrip": {},
                SSE_MEDIA_TYPE: {},
            }
        },
        413: {"description": "the file is too large or the audio too long"},
        415: {"description": "not audio in a format the server reads"},
    },
)
async def create_transcription(
    ctx: ContextDep,
    file: Annotated[UploadFile, File(description="Audio: WAV, FLAC, OGG, WebM/Opus, MP3, M4A")],
    model: Annotated[
        str, Form(min_length=1, max_length=100, description="Any name: the instance's engine")
    ],
    language: Annotated[
        str | None, Form(max_length=16, description="ISO-639-1 code, e.g. en")
    ] = None,
    prompt: Annotated[
        str | None,
        Form(
            max_length=4000,
            description="Names and terms the audio is likely to hold, or the text before it: "
            "steers the spelling (Whisper's prompt)",
        ),
    ] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float | None, Form(ge=0, le=1, description="Ignored")] = None,
    timestamp_granularities: Annotated[
        list[Literal["word", "segment"]] | None, Form(alias="timestamp_granularities[]")
    ] = None,
    stream: Annotated[
        bool,
        Form(
            description="Send the text as it is decoded: server-sent events "
            "transcript.text.delta, then transcript.text.done (json or text only)"
        ),
    ] = False,
) -> Response:
    """What is said in the file, as json, text, verbose_json (segments, words), srt or vtt;
    or, with ``stream``, as OpenAI's transcription events while it is decoded."""
    engine = _stt(ctx)
    if stream and response_format not in ("json", "text"):
        raise HTTPProblem(
            422,
            f"stream=true sends the text as events and cannot give {response_format}; ask "
            "for json or text, or leave stream out",
            code="stream_unsupported_format",
        )
    data = await file.read()
    name = file.filename or "the file"
    pcm = await asyncio.to_thread(
        decode_audio, data, max_seconds=ctx.settings.stt_max_audio_s, name=name
    )
    engine.check_language(language)  # as a decode would, even of a recording with no speech
    if stream:
        events = await started(
            transcription_events(
                engine, pcm, language=language, prompt=prompt, slack_s=BATCH_SLACK_S
            )
        )
        return StreamingResponse(events, media_type=SSE_MEDIA_TYPE, headers=STREAM_HEADERS)
    if len(pcm) / SAMPLE_RATE > PIECE_MAX_S:
        # Longer than one decode: a piece at a time, as the stream and the CLI decode.
        pieces = await asyncio.to_thread(speech_pieces, pcm)
        transcript = await transcribe_pieces(
            engine, pcm, pieces, language=language, prompt=prompt, slack_s=BATCH_SLACK_S
        )
    else:
        loop = asyncio.get_running_loop()
        transcript = await engine.transcribe(
            pcm,
            language=language,
            deadline=loop.time() + BATCH_SLACK_S + len(pcm) / SAMPLE_RATE,
            prompt=prompt,
        )
    words = timestamp_granularities is not None and "word" in timestamp_granularities
    body = render(transcript, response_format, words=words)
    return Response(body, media_type=MEDIA_TYPES[response_format])


class VoiceRef(BaseModel):
    """OpenAI's custom voice reference, ``{"id": ...}``."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=100)


VoiceName = Annotated[str, Field(min_length=1, max_length=100)]


class SpeechRequest(BaseModel):
    """OpenAI's speech request. ``voice``: the id of one of the tenant's cloned voices (as a
    string or ``{"id": ...}``) speaks with it; any other name is the instance's voice."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=100)
    input: str = Field(min_length=1, max_length=MAX_SPEECH_CHARS)
    voice: VoiceName | VoiceRef = "default"
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm", "visavis.visemes"] = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = Field(
        default="audio",
        description="audio: the bytes (pcm streams as it is synthesized); sse: "
        "speech.audio.delta events, then speech.audio.done",
    )


@router.post(
    "/speech",
    summary="Speak text (OpenAI-compatible), optionally with mouth cues",
    responses={
        200: {
            "content": {
                "audio/mpeg": {},
                "audio/wav": {},
                "audio/pcm": {},
                "application/json": {},
            },
            "description": "the audio; for visavis.visemes, JSON with base64 WAV and cues",
        }
    },
)
async def create_speech(
    ctx: ContextDep, principal: PrincipalDep, request: SpeechRequest
) -> Response:
    """``input`` spoken by the voice asked for. ``pcm`` is raw 24 kHz 16-bit mono, sent as
    it is synthesized; ``stream_format: "sse"`` sends it as events."""
    if request.stream_format == "sse" and request.response_format == VISEMES:
        raise HTTPProblem(
            422,
            "visavis.visemes is one JSON answer and cannot be sent as events; leave "
            "stream_format out, or ask for an audio format",
            code="stream_unsupported_format",
        )
    voice = await _voice(ctx, principal.tenant_id, request.voice)
    chunks = _spoken(ctx, voice, request.input, speed=request.speed)
    if request.response_format == VISEMES:
        pcm, phones = await _collect(chunks)
        return JSONResponse(await asyncio.to_thread(_with_visemes, pcm, phones, request.input))
    fmt: AudioFormat = request.response_format  # type: ignore[assignment]  # visemes went above
    if request.stream_format == "sse":
        events = await started(speech_events(chunks, fmt, SPEECH_SAMPLE_RATE))
        return StreamingResponse(events, media_type=SSE_MEDIA_TYPE, headers=STREAM_HEADERS)
    if fmt == "pcm":
        audio_parts = await started(pcm_bytes(chunks))
        return StreamingResponse(
            audio_parts, media_type=AUDIO_MEDIA_TYPES[fmt], headers=STREAM_HEADERS
        )
    pcm, _ = await _collect(chunks)
    audio = await asyncio.to_thread(encode_audio, pcm, SPEECH_SAMPLE_RATE, fmt)
    return Response(audio, media_type=AUDIO_MEDIA_TYPES[fmt])


async def _voice(ctx: AppContext, tenant_id: uuid.UUID, voice: str | VoiceRef) -> TTSEngine:
    """The tenant's cloned voice that ``voice`` names by id, or else the instance's voice."""
    name = voice.id if isinstance(voice, VoiceRef) else voice
    try:
        profile_id = uuid.UUID(name)
    except ValueError:
        return ctx.tts
    if ctx.twin_voices is None:
        raise HTTPProblem(
            503,
            "cloned voices are not configured on this instance; ask for any other voice name "
            "to hear the instance's own voice",
            code="voice_backend_unavailable",
        )
    return await ctx.twin_voices.profile_engine(tenant_id, profile_id)


async def _spoken(
    ctx: AppContext, voice: TTSEngine, text: str, *, speed: float
) -> AsyncIterator[AudioChunk]:
    """``text`` spoken by ``voice``, chunk by chunk at 24 kHz; a cloned voice's service
    failing is a 502 problem, nothing to say a 422."""
    said = False
    deadline = asyncio.get_running_loop().time() + BATCH_SLACK_S
    try:
        async for chunk in ctx.synthesis.synthesize(
            voice, text, deadline=deadline, sample_rate=SPEECH_SAMPLE_RATE, rate=speed
        ):
            said = True
            yield chunk
    except CloningError as exc:
        retry = exc.retry_after_s if isinstance(exc, CloningUnavailable) else None
        raise HTTPProblem(
            502,
            f"the cloned voice's service failed: {exc.message}; try again later, or ask for "
            "the instance's own voice (any other voice name)",
            code="voice_unavailable",
            headers={"Retry-After": str(round(retry))} if retry else None,
        ) from exc
    if not said:
        raise HTTPProblem(422, "the input has nothing to say", code="unspeakable_text")


async def _collect(
    chunks: AsyncIterator[AudioChunk],
) -> tuple[np.ndarray, list[PhoneTiming] | None]:
    """All the audio, and its exact phones when the voice gives them."""
    pieces: list[np.ndarray] = []
    phones: list[PhoneTiming] | None = []
    offset = 0.0
    async for chunk in chunks:
        pieces.append(chunk.pcm)
        if chunk.phones is None or phones is None:
            phones = None
        else:
            phones += [PhoneTiming(p.phone, p.start + offset, p.end + offset) for p in chunk.phones]
        offset += chunk.duration
    return np.concatenate(pieces), phones


def _with_visemes(pcm: np.ndarray, phones: list[PhoneTiming] | None, text: str) -> dict[str, Any]:
    track = (
        animate(pcm, SPEECH_SAMPLE_RATE, phones=phones)
        if phones is not None
        else animate(pcm, SPEECH_SAMPLE_RATE, text=text)
    )
    return {
        "audio": base64.b64encode(encode_audio(pcm, SPEECH_SAMPLE_RATE, "wav")).decode("ascii"),
        "audio_format": "wav",
        "sample_rate": SPEECH_SAMPLE_RATE,
        "duration": round(track.duration, 3),
        "mouth_cues": [
            {
                "start": round(c.start, 3),
                "end": round(c.end, 3),
                "value": c.shape,
                "viseme": c.viseme,
            }
            for c in track.cues
        ],
        "method": track.metadata.get("method"),
    }
