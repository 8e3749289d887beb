"""Which voice a twin's conversation speaks with: its cloned voice when ready, else the bundled.

A twin whose ``voice`` names a voice profile that is ``ready`` speaks with that profile's
backend; each sentence falls back to the bundled voice when the backend is down or slow
(``FallbackVoice``). One engine per cloned voice is kept for the instance, behind the
synthesis cache, so a sentence said twice with that voice is synthesized once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.db.repositories.twins import TwinRepository
from visavis.db.repositories.voices import VoiceRepository
from visavis.db.tenant_scope import scope_to_tenant
from visavis.errors import ConfigurationError, ConflictError, NotFoundError
from visavis.speech.tts.base import TTSEngine
from visavis.speech.tts.cache import CachedTTSEngine
from visavis.speech.tts.fallback import FallbackVoice, VoiceSwitch
from visavis.voices.cloning import CloningBackend


class ProfileVoices:
    """Builds the voice of a twin's conversation (``None``: the bundled voice as usual)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        backends: Mapping[str, CloningBackend],
        *,
        switch_role: bool = True,
        first_audio_s: float = 1.0,
        cache_max_bytes: int = 32 * 1024 * 1024,
        cache_ttl_s: float = 24 * 3600.0,
    ) -> None:
        self.sessions = sessions
        self.backends = backends
        self.switch_role = switch_role
        self.first_audio_s = first_audio_s
        self.cache_max_bytes = cache_max_bytes
        self.cache_ttl_s = cache_ttl_s
        self._engines: dict[tuple[str, str], TTSEngine] = {}

    async def profile_voice(
        self, tenant_id: uuid.UUID, twin_id: uuid.UUID
    ) -> tuple[str, str] | None:
        """``(backend, provider voice id)`` of the twin's ready voice profile, if it has one."""
        async with self.sessions() as session:
            await scope_to_tenant(session, tenant_id, switch_role=self.switch_role)
            twin = await TwinRepository(session, tenant_id).find(twin_id)
            if twin is None or twin.voice == "bundled":
                return None
            try:
                profile = await VoiceRepository(session, tenant_id).get(uuid.UUID(twin.voice))
            except (ValueError, NotFoundError):
                return None
        if profile.status != "ready" or not profile.backend or not profile.provider_voice_id:
            return None
        if profile.backend not in self.backends:
            return None
        return profile.backend, profile.provider_voice_id

    async def profile_engine(self, tenant_id: uuid.UUID, profile_id: uuid.UUID) -> TTSEngine:
        """The engine of one of the tenant's voice profiles, to speak with it directly.

        ``NotFoundError``: no such profile in this tenant; ``ConflictError``: it is not ready
        (still collecting samples, cloning, or failed); ``ConfigurationError``: its backend is
        not configured on this instance.
        """
        async with self.sessions() as session:
            await scope_to_tenant(session, tenant_id, switch_role=self.switch_role)
            profile = await VoiceRepository(session, tenant_id).get(profile_id)
        if profile.status != "ready" or not profile.backend or not profile.provider_voice_id:
            raise ConflictError(
                f"the voice {profile.name!r} is not ready to speak (status: {profile.status}); "
                "add samples and start its cloning, or wait for it to finish",
                code="voice_not_ready",
            )
        if profile.backend not in self.backends:
            raise ConfigurationError(
                f"the voice {profile.name!r} was cloned with {profile.backend}, which this "
                "instance is not configured for",
                code="voice_backend_unavailable",
            )
        return self.engine(profile.backend, profile.provider_voice_id)

    def engine(self, backend: str, voice_id: str) -> TTSEngine:
        """The instance's engine of one cloned voice (behind the synthesis cache)."""
        key = (backend, voice_id)
        if key not in self._engines:
            speaker = self.backends[backend].speaker(voice_id)
            if self.cache_max_bytes > 0:
                speaker = CachedTTSEngine(
                    speaker,
                    voice=speaker.name,
                    max_bytes=self.cache_max_bytes,
                    ttl_s=self.cache_ttl_s,
                )
            self._engines[key] = speaker
        return self._engines[key]

    async def for_twin(
        self,
        tenant_id: uuid.UUID,
        twin_id: uuid.UUID,
        fallback: TTSEngine,
        on_switch: Callable[[VoiceSwitch], None],
    ) -> TTSEngine | None:
        """The cloned voice with ``fallback`` behind it, or ``None`` for the bundled voice."""
        found = await self.profile_voice(tenant_id, twin_id)
        if found is None:
            return None
        return FallbackVoice(
            self.engine(*found),
            fallback,
            first_audio_s=self.first_audio_s,
            on_switch=on_switch,
        )
