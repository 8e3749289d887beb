"""Cloning jobs: queued → running → ready | failed, with progress, run in this instance.

Starting a job needs the speaker's recorded consent and the usable samples; it claims the
profile with one conditional UPDATE (a second start while one runs is a conflict). The job
rebuilds the samples from storage, cuts the reference clip from the sample with the best
signal-to-noise ratio, and calls the backend. A failed job keeps its samples: start it
again, nobody records anything twice.

A running job writes a heartbeat (its row's ``updated_at``) every quarter of ``stale_s``. A
job whose server went away without a word (a crash, a kill) stops writing it: after
``stale_s`` it reads as failed (``job_state``) and can be started again. A job this instance
stops on shutdown is marked failed at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.db.base import utcnow
from visavis.db.models import VoiceProfile
from visavis.db.repositories.voices import VoiceRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.errors import ConflictError, InvalidInputError
from visavis.voices.cloning import CloneRequest, CloningBackend, CloningError
from visavis.voices.decoding import ANALYSIS_RATE, DecodedAudio
from visavis.voices.samples import MAX_SAMPLES
from visavis.voices.validation import SampleLimits, reference_clip, validate

logger = logging.getLogger(__name__)

STALE_S = 120.0
STOPPED = "the server stopped during the job: start it again (the samples are kept)"
LOST = "the job's server stopped answering: start it again (the samples are kept)"


@dataclass(frozen=True, slots=True)
class JobState:
    """A cloning job as it stands: ``status``, ``stage`` and ``error`` to show."""

    status: str
    stage: str | None
    error: str | None


def job_state(profile: VoiceProfile, *, stale_s: float, now: datetime | None = None) -> JobState:
    """The profile's job as it stands: a queued or running job not heard from for ``stale_s``
    lost its server and is failed."""
    at = now or utcnow()
    if profile.status in ("queued", "running") and profile.updated_at < at - timedelta(
        seconds=stale_s
    ):
        return JobState("failed", "failed", LOST)
    return JobState(profile.status, profile.stage, profile.error)


def _floats(pcm16: bytes) -> npt.NDArray[np.float32]:
    samples: npt.NDArray[np.float32] = np.frombuffer(pcm16, dtype="<i2").astype(np.float32)
    samples *= np.float32(1 / 32767)
    return samples


def choose_reference(
    samples: Sequence[npt.NDArray[np.float32]], snrs: Sequence[float]
) -> tuple[npt.NDArray[np.float32], int]:
    """The reference clip (3-10 s of continuous speech) from the cleanest sample that has
    one, and that sample's index; ``InvalidInputError`` when none has."""
    first: InvalidInputError | None = None
    for index in sorted(range(len(samples)), key=lambda i: -snrs[i]):
        audio = DecodedAudio(samples=samples[index], source_rate=ANALYSIS_RATE, codec="pcm")
        try:
            return reference_clip(audio, validate(audio)), index
        except InvalidInputError as exc:
            first = first or exc
    raise first or InvalidInputError("no samples to cut a reference clip from")


def _warned(report: dict[str, Any], code: str) -> bool:
    """Whether a stored sample report lists the problem ``code``."""
    return any(problem.get("code") == code for problem in report.get("problems", ()))


class CloningJobs:
    """Runs cloning jobs as tasks of this instance; ``aclose`` cancels them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        backends: Mapping[str, CloningBackend],
        *,
        switch_role: bool = True,
        min_samples: int = MAX_SAMPLES,
        stale_s: float = STALE_S,
    ) -> None:
        self.sessions = sessions
        self.backends = dict(backends)
        self.switch_role = switch_role
        self.min_samples = min_samples
        self.stale_s = stale_s
        self._tenants: dict[uuid.UUID, uuid.UUID] = {}
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._watchers: dict[uuid.UUID, set[asyncio.Queue[None]]] = {}

    async def start(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        profile_id: uuid.UUID,
        backend: str,
        *,
        launch: bool = True,
    ) -> None:
        """Check consent and samples, claim the profile and commit; the job runs after
        (``launch=False``: when the caller calls ``launch``)."""
        if backend not in self.backends:
            known = ", ".join(sorted(self.backends)) or "none (configure ElevenLabs or GPT-SoVITS)"
            raise InvalidInputError(f"no cloning backend {backend!r} here; available: {known}")
        repo = VoiceRepository(session, tenant_id)
        await repo.get(profile_id)
        if await repo.latest_consent(profile_id) is None:
            raise InvalidInputError(
                "the speaker's consent is missing: record it with PUT /v1/voices/{id}/consent"
            )
        have = await repo.count_samples(profile_id)
        if have < self.min_samples:
            raise InvalidInputError(
                f"{have} of {self.min_samples} samples recorded: record the rest first"
            )
        if self.backends[backend].needs_reference:
            reports = await repo.sample_reports(profile_id)
            if all(_warned(report, "no_stretch") for report in reports):
                raise InvalidInputError(
                    f"none of the {len(reports)} samples has {SampleLimits().min_stretch_s:g} s "
                    "of speech without a pause, "
                    f"which {backend} needs for the voice's reference clip: record one again, "
                    "reading a sentence or two straight through"
                )
        stale_before = utcnow() - timedelta(seconds=self.stale_s)
        if not await repo.claim_for_cloning(profile_id, backend, stale_before=stale_before):
            raise ConflictError("a cloning job for this voice is already queued or running")
        await session.commit()
        self.changed(profile_id)
        if launch:
            self.launch(tenant_id, profile_id, backend)

    def launch(self, tenant_id: uuid.UUID, profile_id: uuid.UUID, backend: str) -> None:
        """Run the job claimed by ``start(..., launch=False)``."""
        task = asyncio.create_task(self._run(tenant_id, profile_id, backend))
        self._tasks[profile_id] = task
        self._tenants[profile_id] = tenant_id

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(profile_id, None)
            self._tenants.pop(profile_id, None)

        task.add_done_callback(done)

    async def wait(self, profile_id: uuid.UUID) -> None:
        """Until the profile's running job (if any) ends."""
        task = self._tasks.get(profile_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def watch(self, profile_id: uuid.UUID) -> asyncio.Queue[None]:
        """A queue that gets an item each time this instance changes the job's state."""
        queue: asyncio.Queue[None] = asyncio.Queue()
        self._watchers.setdefault(profile_id, set()).add(queue)
        return queue

    def unwatch(self, profile_id: uuid.UUID, queue: asyncio.Queue[None]) -> None:
        watchers = self._watchers.get(profile_id)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[profile_id]

    def changed(self, profile_id: uuid.UUID) -> None:
        """Wake whoever watches the profile's job (its state was just committed)."""
        for queue in self._watchers.get(profile_id, ()):
            queue.put_nowait(None)

    async def _state(self, tenant_id: uuid.UUID, profile_id: uuid.UUID, **values: object) -> None:
        async with self.sessions() as session:
            await scope_to_tenant(session, tenant_id, switch_role=self.switch_role)
            await VoiceRepository(session, tenant_id).set_job_state(profile_id, **values)
            await session.commit()
        self.changed(profile_id)

    async def _request(
        self, tenant_id: uuid.UUID, profile_id: uuid.UUID, backend: str
    ) -> CloneRequest:
        async with self.sessions() as session:
            await scope_to_tenant(session, tenant_id, switch_role=self.switch_role)
            repo = VoiceRepository(session, tenant_id)
            profile = await repo.get(profile_id)
            rows = await repo.samples(profile_id)
        samples = [_floats(r.pcm16) for r in rows]
        snrs = [float(r.report.get("snr_db", 0.0)) for r in rows]
        try:
            clip, best = await asyncio.to_thread(choose_reference, samples, snrs)
        except InvalidInputError:
            if self.backends[backend].needs_reference:
                raise
            # A service cloning from the whole samples does without one.
            clip, best = np.zeros(0, dtype=np.float32), 0
        return CloneRequest(
            name=profile.name,
            samples=samples,
            reference=clip,
            reference_text=rows[best].transcript,
        )

    async def _run(self, tenant_id: uuid.UUID, profile_id: uuid.UUID, backend: str) -> None:
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()

        def progress(fraction: float, stage: str) -> None:
            update = loop.create_task(
                self._state(
                    tenant_id, profile_id, progress=round(0.2 + 0.8 * fraction, 3), stage=stage
                )
            )
            pending.add(update)
            update.add_done_callback(pending.discard)

        heartbeat = loop.create_task(self._heartbeat(tenant_id, profile_id))
        try:
            await self._state(
                tenant_id, profile_id, status="running", progress=0.05, stage="preparing"
            )
            request = await self._request(tenant_id, profile_id, backend)
            await self._state(tenant_id, profile_id, progress=0.2, stage="cloning")
            voice = await self.backends[backend].clone(request, progress=progress)
            await asyncio.gather(*pending)
            await self._state(
                tenant_id,
                profile_id,
                status="ready",
                progress=1.0,
                stage="ready",
                provider_voice_id=voice.voice_id,
            )
        except (CloningError, InvalidInputError) as exc:
            await asyncio.gather(*pending)
            retry = "; start the job again later" if exc.code == "cloning_unavailable" else ""
            await self._state(
                tenant_id, profile_id, status="failed", stage="failed", error=exc.message + retry
            )
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _heartbeat(self, tenant_id: uuid.UUID, profile_id: uuid.UUID) -> None:
        """Touch the job's row while it runs, so it is not taken for lost."""
        while True:
            await asyncio.sleep(self.stale_s / 4)
            try:
                await self._state(tenant_id, profile_id)
            except Exception:  # the next beat tries again; a lost job only shows as failed
                logger.warning("cloning job heartbeat failed", exc_info=True)

    async def aclose(self) -> None:
        """Stop running jobs and mark them failed (start them again: the samples are kept)."""
        tasks = list(self._tasks.items())
        tenants = dict(self._tenants)
        for _, task in tasks:
            task.cancel()
        await asyncio.gather(*(task for _, task in tasks), return_exceptions=True)
        for profile_id, _ in tasks:
            try:
                await self._state(
                    tenants[profile_id], profile_id, status="failed", stage="failed", error=STOPPED
                )
            except Exception:  # the heartbeat's silence marks it failed in time anyway
                logger.warning("could not mark a stopped cloning job failed", exc_info=True)
        for backend in self.backends.values():
            await backend.aclose()
