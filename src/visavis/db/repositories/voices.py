"""Voice profiles of a tenant, their samples and consent records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import VoiceConsent, VoiceProfile, VoiceSample
from visavis.errors import NotFoundError


class VoiceRepository:
    """Tenant-scoped voice profiles; another tenant's profile is never found."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add(self, profile: VoiceProfile) -> VoiceProfile:
        profile.tenant_id = self.tenant_id
        self.session.add(profile)
        await self.session.flush()
        return profile

    async def get(self, profile_id: uuid.UUID) -> VoiceProfile:
        result = await self.session.execute(
            select(VoiceProfile).where(
                VoiceProfile.id == profile_id, VoiceProfile.tenant_id == self.tenant_id
            )
        )
        row = result.scalar_one_or_none()
        if row is None:
            raise NotFoundError("voice not found")
        return row

    async def list(self) -> Sequence[VoiceProfile]:
        result = await self.session.execute(
            select(VoiceProfile)
            .where(VoiceProfile.tenant_id == self.tenant_id)
            .order_by(VoiceProfile.id)
        )
        return result.scalars().all()

    async def delete(self, profile_id: uuid.UUID) -> None:
        await self.session.delete(await self.get(profile_id))
        await self.session.flush()

    async def samples(self, profile_id: uuid.UUID) -> Sequence[VoiceSample]:
        """The profile's samples, oldest first (their audio is loaded too)."""
        result = await self.session.execute(
            select(VoiceSample)
            .where(VoiceSample.profile_id == profile_id, VoiceSample.tenant_id == self.tenant_id)
            .order_by(VoiceSample.id)
        )
        return result.scalars().all()

    async def sample_reports(self, profile_id: uuid.UUID) -> Sequence[dict[str, Any]]:
        """The validation reports of the profile's samples, oldest first (without the audio)."""
        result = await self.session.execute(
            select(VoiceSample.report)
            .where(VoiceSample.profile_id == profile_id, VoiceSample.tenant_id == self.tenant_id)
            .order_by(VoiceSample.id)
        )
        return result.scalars().all()

    async def count_samples(self, profile_id: uuid.UUID) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(VoiceSample)
            .where(VoiceSample.profile_id == profile_id, VoiceSample.tenant_id == self.tenant_id)
        )
        return int(result.scalar_one())

    async def add_sample(self, sample: VoiceSample) -> VoiceSample:
        sample.tenant_id = self.tenant_id
        self.session.add(sample)
        await self.session.flush()
        return sample

    async def delete_sample(self, profile_id: uuid.UUID, sample_id: uuid.UUID) -> None:
        result = await self.session.execute(
            delete(VoiceSample).where(
                VoiceSample.id == sample_id,
                VoiceSample.profile_id == profile_id,
                VoiceSample.tenant_id == self.tenant_id,
            )
        )
        if getattr(result, "rowcount", 0) == 0:
            raise NotFoundError("sample not found")

    async def add_consent(self, consent: VoiceConsent) -> VoiceConsent:
        consent.tenant_id = self.tenant_id
        self.session.add(consent)
        await self.session.flush()
        return consent

    async def latest_consent(self, profile_id: uuid.UUID) -> VoiceConsent | None:
        result = await self.session.execute(
            select(VoiceConsent)
            .where(VoiceConsent.profile_id == profile_id, VoiceConsent.tenant_id == self.tenant_id)
            .order_by(VoiceConsent.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def claim_for_cloning(
        self, profile_id: uuid.UUID, backend: str, *, stale_before: datetime
    ) -> bool:
        """Queue a cloning job unless one is queued or running and was heard from since
        ``stale_before`` (one conditional UPDATE)."""
        result = await self.session.execute(
            update(VoiceProfile)
            .where(
                VoiceProfile.id == profile_id,
                VoiceProfile.tenant_id == self.tenant_id,
                or_(
                    VoiceProfile.status.in_(("collecting", "ready", "failed")),
                    VoiceProfile.updated_at < stale_before,
                ),
            )
            .values(
                status="queued",
                backend=backend,
                progress=0.0,
                stage="queued",
                error=None,
                attempts=VoiceProfile.attempts + 1,
                updated_at=utcnow(),
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_job_state(self, profile_id: uuid.UUID, **values: object) -> None:
        """Record a job's status, progress, stage, error or result."""
        await self.session.execute(
            update(VoiceProfile)
            .where(VoiceProfile.id == profile_id, VoiceProfile.tenant_id == self.tenant_id)
            .values(**values, updated_at=utcnow())
        )
