"""``POST /v1/lipsync``: mouth cues for an uploaded recording (and its dialog), as the CLI writes.

The upload is multipart: ``audio`` (any WAV/FLAC/OGG) and, optionally, ``dialog`` (what is
said), ``format`` and the CLI's other options. The answer is the track in that format. With
``Accept: application/x-ndjson`` it is a stream instead: ``progress`` events while the
recording is analyzed, then one ``result`` (or ``error``) event — for long recordings.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response, StreamingResponse

from visavis.api.deps import PrincipalDep, SessionDep
from visavis.api.problems import HTTPProblem
from visavis.errors import VisavisError
from visavis.speech.audio import Pcm, read_audio
from visavis.speech.lipsync import VisemeTrack, animate, formats
from visavis.speech.lipsync.long_form import Progress

LIPSYNC_PATH = "/v1/lipsync"
NDJSON = "application/x-ndjson"
router = APIRouter(prefix="/v1", tags=["lipsync"])


class LipsyncFormat(StrEnum):
    """Output formats: Rhubarb's ``tsv``/``json``/``xml``/``dat``, Oculus visemes, ARKit."""

    tsv = "tsv"
    json = "json"
    xml = "xml"
    dat = "dat"
    oculus = "oculus"
    arkit = "arkit"


@dataclass(frozen=True, slots=True)
class _Job:
    pcm: Pcm
    rate: int
    dialog: str | None
    fmt: str
    extended_shapes: str
    fps: int
    dat_fps: int
    sound_file: str


class _Cancelled(Exception):
    """The client went away: the analysis stops at its next piece."""


@router.post(
    "/lipsync",
    response_class=Response,
    responses={
        200: {
            "description": "The track in the chosen format, or an NDJSON event stream.",
            "content": {media: {} for media in {*formats.MEDIA_TYPES.values(), NDJSON}},
        }
    },
)
async def post_lipsync(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    audio: Annotated[UploadFile, File(description="Speech audio: WAV, FLAC or OGG, any rate.")],
    dialog: Annotated[str | None, Form(description="What is said (aligned to the audio).")] = None,
    format: Annotated[LipsyncFormat, Form(description="Output format.")] = LipsyncFormat.tsv,  # noqa: A002
    extended_shapes: Annotated[
        str,
        Form(
            pattern="^([GHXghx]{1,3}|none)$",
            description="Extended shapes to use, some of GHX, or 'none' for the basic six.",
        ),
    ] = "GHX",
    fps: Annotated[int, Form(ge=1, le=1000, description="ARKit frame rate.")] = 60,
    dat_frame_rate: Annotated[int, Form(ge=1, le=1000, description="dat frame rate.")] = 24,
    strict: Annotated[
        bool, Form(description="Refuse (422) when the dialog does not fit the audio.")
    ] = False,
) -> Response:
    """Mouth cues for the uploaded speech, in the formats of ``visavis lipsync``.

    Where the dialog does not fit part of the audio, that part is analyzed from the audio
    alone (the ``Visavis-Lipsync-Fallback`` header and the metadata say so), unless
    ``strict``. Send ``Accept: application/x-ndjson`` to follow a long recording's progress.
    """
    del principal  # authenticated; the work touches no tenant data
    await session.close()  # no database connection held while the audio is analyzed
    try:
        pcm, rate = await asyncio.to_thread(read_audio, audio.file)
    finally:
        await audio.close()
    job = _Job(
        pcm,
        rate,
        dialog if dialog and dialog.strip() else None,
        format.value,
        "" if extended_shapes == "none" else extended_shapes.upper(),
        fps,
        dat_frame_rate,
        audio.filename or "",
    )
    slots = _slots(request)
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_stream(job, strict, slots), media_type=NDJSON)
    async with slots:
        track = await asyncio.to_thread(_animate, job, None)
    if strict and track.fallback_reason is not None:
        raise _mismatch(track)
    body = formats.render(
        track, job.fmt, sound_file=job.sound_file, fps=job.fps, dat_fps=job.dat_fps
    )
    headers = {"Visavis-Lipsync-Method": track.method}
    if track.fallback_reason is not None:
        headers["Visavis-Lipsync-Fallback"] = _header_safe(track.fallback_reason)
    return Response(body, media_type=formats.MEDIA_TYPES[job.fmt], headers=headers)


def _slots(request: Request) -> asyncio.Semaphore:
    """The app's limit on analyses running at once (they take a core each)."""
    state = request.app.state
    slots: asyncio.Semaphore | None = getattr(state, "lipsync_slots", None)
    if slots is None:
        slots = asyncio.Semaphore(state.ctx.settings.lipsync_max_concurrent)
        state.lipsync_slots = slots
    return slots


def _animate(job: _Job, report: Progress | None) -> VisemeTrack:
    return animate(
        job.pcm, job.rate, text=job.dialog, extended_shapes=job.extended_shapes, progress=report
    )


def _mismatch(track: VisemeTrack) -> HTTPProblem:
    spans = list(track.metadata.get("fallback_spans") or [])
    return HTTPProblem(
        422,
        f"the dialog does not fit the audio: {track.fallback_reason}",
        code="dialog_mismatch",
        fallback_spans=spans,
    )


def _header_safe(text: str) -> str:
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())[:500]


async def _stream(job: _Job, strict: bool, slots: asyncio.Semaphore) -> AsyncIterator[bytes]:
    """Progress events as the analysis goes, then the result (or an error) as one event."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[float, float]] = asyncio.Queue()
    stop = threading.Event()

    def report(done: float, total: float) -> None:
        if stop.is_set():
            raise _Cancelled
        loop.call_soon_threadsafe(events.put_nowait, (done, total))

    work: asyncio.Future[VisemeTrack] | None = None
    try:
        async with slots:
            work = asyncio.ensure_future(asyncio.to_thread(_animate, job, report))
            while not work.done():
                waiter = asyncio.ensure_future(events.get())
                await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if waiter.done():
                    yield _event("progress", **_progress(*waiter.result()))
                else:
                    waiter.cancel()
            while not events.empty():
                yield _event("progress", **_progress(*events.get_nowait()))
            try:
                track = work.result()
            except VisavisError as exc:
                yield _event("error", status=422, code=exc.code, detail=exc.message)
                return
        if strict and track.fallback_reason is not None:
            problem = _mismatch(track)
            yield _event("error", status=422, code=problem.code, detail=problem.message,
                         fallback_spans=problem.extra["fallback_spans"])  # fmt: skip
            return
        body = formats.render(
            track, job.fmt, sound_file=job.sound_file, fps=job.fps, dat_fps=job.dat_fps
        )
        yield _event(
            "result",
            format=job.fmt,
            media_type=formats.MEDIA_TYPES[job.fmt],
            method=track.method,
            fallback_reason=track.fallback_reason,
            fallback_spans=list(track.metadata.get("fallback_spans") or []),
            body=body,
        )
    finally:
        stop.set()  # a client that left stops the analysis at its next piece
        if work is not None and not work.done():
            work.add_done_callback(_settled)


def _settled(future: asyncio.Future[VisemeTrack]) -> None:
    """Collect the outcome of an analysis nobody waits for any more (it was cancelled)."""
    if not future.cancelled():
        future.exception()


def _progress(done: float, total: float) -> dict[str, float]:
    return {"done_seconds": round(done, 2), "total_seconds": round(total, 2)}


def _event(kind: str, **fields: Any) -> bytes:
    return (json.dumps({"event": kind, **fields}) + "\n").encode("utf-8")
