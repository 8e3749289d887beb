"""``/v1/voices``: voice profiles — samples (uploaded, validated) and the speaker's consent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from visavis.api.deps import ContextDep, PrincipalDep, SessionDep
from visavis.api.problems import HTTPProblem
from visavis.api.schemas import StrictModel
from visavis.db.models import VoiceConsent, VoiceProfile, VoiceSample
from visavis.db.repositories.voices import VoiceRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.voices.jobs import JobState, job_state
from visavis.voices.samples import MAX_SAMPLES, add_sample

router = APIRouter(prefix="/v1/voices", tags=["voices"])


class VoiceCreate(StrictModel):
    name: str = Field(min_length=1, max_length=100)


class ConsentBody(StrictModel):
    person_name: str = Field(min_length=1, max_length=200, description="Who agrees.")
    text: str = Field(min_length=20, max_length=5000, description="What they agreed to.")


class SamplePublic(BaseModel):
    id: uuid.UUID
    duration_s: float
    transcript: str | None
    report: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: VoiceSample) -> SamplePublic:
        return cls(
            id=row.id,
            duration_s=row.duration_s,
            transcript=row.transcript,
            report=row.report,
            created_at=row.created_at,
        )


class ConsentPublic(BaseModel):
    person_name: str
    text: str
    agreed_at: datetime
    recorded_by: str

    @classmethod
    def of(cls, row: VoiceConsent) -> ConsentPublic:
        return cls(
            person_name=row.person_name,
            text=row.consent_text,
            agreed_at=row.agreed_at,
            recorded_by=row.recorded_by,
        )


class CloneBody(StrictModel):
    backend: Literal["elevenlabs", "gptsovits"]


class VoicePublic(BaseModel):
    id: uuid.UUID
    name: str
    status: str = Field(description="collecting, queued, running, ready or failed")
    backend: str | None
    provider_voice_id: str | None
    progress: float
    stage: str | None
    error: str | None
    attempts: int
    samples: list[SamplePublic]
    samples_needed: int
    consent: ConsentPublic | None
    created_at: datetime


class VoiceList(BaseModel):
    items: list[VoicePublic]


async def _public(repo: VoiceRepository, profile: VoiceProfile, stale_s: float) -> VoicePublic:
    samples = await repo.samples(profile.id)
    consent = await repo.latest_consent(profile.id)
    job = job_state(profile, stale_s=stale_s)
    return VoicePublic(
        id=profile.id,
        name=profile.name,
        status=job.status,
        backend=profile.backend,
        provider_voice_id=profile.provider_voice_id,
        progress=profile.progress,
        stage=job.stage,
        error=job.error,
        attempts=profile.attempts,
        samples=[SamplePublic.of(s) for s in samples],
        samples_needed=max(0, MAX_SAMPLES - len(samples)),
        consent=ConsentPublic.of(consent) if consent else None,
        created_at=profile.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=VoicePublic)
async def create(
    body: VoiceCreate, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> VoicePublic:
    """A voice profile to collect five samples of about 30 s for."""
    repo = VoiceRepository(session, principal.tenant_id)
    profile = await repo.add(VoiceProfile(name=body.name))
    await session.commit()
    return await _public(repo, profile, ctx.settings.cloning_job_stale_s)


@router.get("", response_model=VoiceList)
async def list_voices(principal: PrincipalDep, session: SessionDep, ctx: ContextDep) -> VoiceList:
    repo = VoiceRepository(session, principal.tenant_id)
    stale_s = ctx.settings.cloning_job_stale_s
    return VoiceList(items=[await _public(repo, p, stale_s) for p in await repo.list()])


@router.get("/{voice_id}", response_model=VoicePublic)
async def get(
    voice_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, ctx: ContextDep
) -> VoicePublic:
    repo = VoiceRepository(session, principal.tenant_id)
    return await _public(repo, await repo.get(voice_id), ctx.settings.cloning_job_stale_s)


@router.delete("/{voice_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(voice_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> None:
    """Delete the profile with its samples and consent records."""
    await VoiceRepository(session, principal.tenant_id).delete(voice_id)
    await session.commit()


@router.post("/{voice_id}/samples", status_code=status.HTTP_201_CREATED)
async def upload_sample(
    voice_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    transcript: Annotated[str | None, Query(max_length=5000)] = None,
) -> SamplePublic:
    """Upload one recording (the body: WAV, FLAC, OGG, WebM/Opus, MP3 or M4A).

    It is validated (duration, speech share, clipping, loudness, noise): an unusable
    recording is a 422 whose ``report`` says what to fix, and nothing is kept.
    """
    await VoiceRepository(session, principal.tenant_id).get(voice_id)
    sample, _ = await add_sample(
        session, principal.tenant_id, voice_id, await request.body(), transcript=transcript
    )
    await session.commit()
    return SamplePublic.of(sample)


@router.delete("/{voice_id}/samples/{sample_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_sample(
    voice_id: uuid.UUID, sample_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> None:
    """Remove a sample, to record it again."""
    await VoiceRepository(session, principal.tenant_id).delete_sample(voice_id, sample_id)
    await session.commit()


@router.put("/{voice_id}/consent", response_model=ConsentPublic)
async def consent(
    voice_id: uuid.UUID, body: ConsentBody, principal: PrincipalDep, session: SessionDep
) -> ConsentPublic:
    """Record who agreed, now, to which text (each call is kept; the latest counts)."""
    repo = VoiceRepository(session, principal.tenant_id)
    await repo.get(voice_id)
    row = await repo.add_consent(
        VoiceConsent(
            profile_id=voice_id,
            person_name=body.person_name,
            consent_text=body.text,
            recorded_by=principal.key_prefix,
        )
    )
    await session.commit()
    return ConsentPublic.of(row)


@router.post("/{voice_id}/clone", status_code=status.HTTP_202_ACCEPTED, response_model=VoicePublic)
async def clone(
    voice_id: uuid.UUID,
    body: CloneBody,
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> VoicePublic:
    """Start (or retry) cloning; needs the consent and five usable samples.

    Follow it with ``GET /v1/voices/{id}/jobs/latest/events`` (NDJSON), or poll
    ``GET /v1/voices/{id}`` for ``status``, ``progress`` and ``stage``; a failed job says why
    in ``error`` and can be started again without recording anything.
    """
    if ctx.cloning is None:
        raise HTTPProblem(503, "voice cloning is not enabled here", code="cloning_disabled")
    repo = VoiceRepository(session, principal.tenant_id)
    await repo.get(voice_id)
    await ctx.cloning.start(session, principal.tenant_id, voice_id, body.backend, launch=False)
    session.expire_all()
    # As claimed, before the job runs.
    queued = await _public(repo, await repo.get(voice_id), ctx.settings.cloning_job_stale_s)
    ctx.cloning.launch(principal.tenant_id, voice_id, body.backend)
    return queued


NDJSON = "application/x-ndjson"
#: A watcher on another instance than the job's sees changes at least this often.
_RECHECK_S = 1.0
_MAX_FOLLOW_S = 15 * 60.0


def _job_line(profile: VoiceProfile, job: JobState) -> bytes:
    """One NDJSON line of a job's state (as ``POST /v1/lipsync`` streams its progress)."""
    state: dict[str, Any] = {
        "job": profile.attempts,
        "status": job.status,
        "progress": profile.progress,
        "stage": job.stage,
    }
    if job.status == "ready":
        state = {"event": "result"} | state | {"provider_voice_id": profile.provider_voice_id}
    elif job.status == "failed":
        state = {"event": "error"} | state | {"error": job.error, "retry": True}
    else:
        state = {"event": "progress"} | state
    return (json.dumps(state) + "\n").encode()


@router.get(
    "/{voice_id}/jobs/{job}/events",
    responses={200: {"description": "NDJSON job events", "content": {NDJSON: {}}}},
)
async def job_events(
    voice_id: uuid.UUID,
    job: Annotated[str, Path(pattern=r"^(latest|[1-9][0-9]{0,5})$")],
    principal: PrincipalDep,
    session: SessionDep,
    ctx: ContextDep,
) -> StreamingResponse:
    """Follow a cloning job (``latest``, or its number: ``attempts``) as NDJSON lines.

    ``{"event": "progress", "job", "status": "queued"|"running", "progress", "stage"}`` at
    each change, then one ``{"event": "result", "status": "ready", "provider_voice_id"}`` or
    ``{"event": "error", "status": "failed", "error", "retry": true}`` (start it again with
    ``POST /v1/voices/{id}/clone``: the samples are kept), and the stream ends.
    """
    repo = VoiceRepository(session, principal.tenant_id)
    profile = await repo.get(voice_id)
    number = profile.attempts if job == "latest" else int(job)
    if profile.attempts == 0:
        raise HTTPProblem(404, "no cloning job was started for this voice", code="not_found")
    if number != profile.attempts:
        raise HTTPProblem(
            404,
            f"job {number} is not this voice's latest cloning job ({profile.attempts}): "
            "only the latest one is kept",
            code="not_found",
        )
    tenant_id = principal.tenant_id

    async def current() -> VoiceProfile:
        async with ctx.sessions() as db:
            await scope_to_tenant(db, tenant_id, switch_role=ctx.settings.database_rls)
            return await VoiceRepository(db, tenant_id).get(voice_id)

    async def lines() -> AsyncIterator[bytes]:
        queue = ctx.cloning.watch(voice_id) if ctx.cloning is not None else None
        try:
            deadline = asyncio.get_running_loop().time() + _MAX_FOLLOW_S
            last = b""
            while True:
                state = await current()
                job_now = job_state(state, stale_s=ctx.settings.cloning_job_stale_s)
                line = _job_line(state, job_now)
                if line != last:
                    yield line
                    last = line
                if job_now.status in ("ready", "failed", "collecting") or state.attempts != number:
                    return
                if asyncio.get_running_loop().time() > deadline:
                    return
                if queue is None:
                    await asyncio.sleep(_RECHECK_S)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(queue.get(), _RECHECK_S)
        finally:
            if queue is not None and ctx.cloning is not None:
                ctx.cloning.unwatch(voice_id, queue)

    return StreamingResponse(lines(), media_type=NDJSON)
