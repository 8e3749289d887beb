"""Creating and changing twins: persona, LLM settings (key encrypted), voice, avatar."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.base import utcnow
from visavis.db.models import Twin
from visavis.db.repositories.twins import TwinRepository
from visavis.db.repositories.voices import VoiceRepository
from visavis.tenancy.crypto import SecretBox


def _llm_settings(llm: Any) -> dict[str, Any]:
    return {
        "base_url": llm.base_url,
        "model": llm.model,
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens,
    }


def _apply_llm(twin: Twin, llm: Any, box: SecretBox) -> None:
    if llm is None:
        twin.llm = None
        twin.llm_api_key_encrypted = None
        return
    twin.llm = _llm_settings(llm)
    key = llm.api_key.get_secret_value() if llm.api_key is not None else ""
    twin.llm_api_key_encrypted = box.encrypt(key) if key else None


async def _check_voice(session: AsyncSession, tenant_id: uuid.UUID, voice: str) -> None:
    """A voice profile named by a twin must be one of the tenant's (404 otherwise)."""
    if voice != "bundled":
        await VoiceRepository(session, tenant_id).get(uuid.UUID(voice))


async def create_twin(
    session: AsyncSession, tenant_id: uuid.UUID, body: Any, box: SecretBox
) -> Twin:
    """A new twin from a ``TwinCreate`` body; the caller commits."""
    await _check_voice(session, tenant_id, body.voice)
    twin = Twin(
        name=body.name,
        bio=body.persona.bio,
        speaking_style=body.persona.speaking_style,
        voice=body.voice,
        avatar=body.avatar.model_dump(exclude_none=True) if body.avatar else None,
        learning=body.learning,
        vocabulary=list(body.vocabulary) or None,
        memory_version=0,
    )
    _apply_llm(twin, body.llm, box)
    return await TwinRepository(session, tenant_id).add(twin)


async def update_twin(
    session: AsyncSession, tenant_id: uuid.UUID, twin_id: uuid.UUID, body: Any, box: SecretBox
) -> Twin:
    """Apply the fields a ``TwinUpdate`` sets (``"llm": null`` makes the twin offline)."""
    twin = await TwinRepository(session, tenant_id).get(twin_id)
    given = body.model_fields_set
    if "name" in given and body.name is not None:
        twin.name = body.name
    if "persona" in given and body.persona is not None:
        twin.bio = body.persona.bio
        twin.speaking_style = body.persona.speaking_style
    if "llm" in given:
        _apply_llm(twin, body.llm, box)
    if "voice" in given and body.voice is not None:
        await _check_voice(session, tenant_id, body.voice)
        twin.voice = body.voice
    if "avatar" in given:
        twin.avatar = body.avatar.model_dump(exclude_none=True) if body.avatar else None
    if "learning" in given and body.learning is not None:
        twin.learning = body.learning
    if "vocabulary" in given:
        twin.vocabulary = list(body.vocabulary or ()) or None
    twin.updated_at = utcnow()
    await session.flush()
    return twin
