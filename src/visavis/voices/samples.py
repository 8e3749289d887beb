"""Recording samples for a voice profile: decode, validate, keep only usable ones."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import VoiceSample
from visavis.db.repositories.voices import VoiceRepository
from visavis.errors import ConflictError, InvalidInputError
from visavis.voices.decoding import decode
from visavis.voices.validation import SampleLimits, SampleReport, validate

#: The seed's flow: five recordings of about 30 s.
MAX_SAMPLES = 5


class UnusableSample(InvalidInputError):
    """The recording fails validation; ``problem_extra`` carries the whole report."""

    code = "unusable_sample"

    def __init__(self, report: SampleReport) -> None:
        errors = [p for p in report.problems if p.severity == "error"]
        super().__init__(
            "; ".join(p.message for p in errors) + " — the sample was not kept, record it again"
        )
        self.problem_extra = {"report": report_json(report)}


def report_json(report: SampleReport) -> dict[str, Any]:
    """A report as stored and returned (without the per-window speech flags)."""
    data = dataclasses.asdict(report)
    data.pop("speech_windows", None)
    data["usable"] = report.usable
    return data


def _analyse(data: bytes, limits: SampleLimits) -> tuple[SampleReport, bytes, float]:
    audio = decode(data, max_seconds=limits.max_duration_s)
    report = validate(audio, limits)
    pcm = (np.clip(audio.samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return report, pcm, audio.duration_s


async def add_sample(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    profile_id: uuid.UUID,
    data: bytes,
    *,
    transcript: str | None = None,
    limits: SampleLimits | None = None,
) -> tuple[VoiceSample, SampleReport]:
    """Validate ``data`` and keep it; ``UnusableSample``/``UnreadableAudio`` keep nothing."""
    repo = VoiceRepository(session, tenant_id)
    await repo.get(profile_id)
    if await repo.count_samples(profile_id) >= MAX_SAMPLES:
        raise ConflictError(
            f"this voice already has {MAX_SAMPLES} samples: delete one to record it again"
        )
    # Decoding and the voice activity model are CPU work: off the event loop.
    report, pcm, duration = await asyncio.to_thread(_analyse, data, limits or SampleLimits())
    if not report.usable:
        raise UnusableSample(report)
    sample = await repo.add_sample(
        VoiceSample(
            profile_id=profile_id,
            pcm16=pcm,
            duration_s=round(duration, 2),
            report=report_json(report),
            transcript=transcript,
        )
    )
    return sample, report
