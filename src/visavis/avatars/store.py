"""The records of provider avatar sessions, shared by live conversations and the sweeper.

Every step (creating, started, fallback, renewed, stopped) is an event with a reason; a stop is
claimed in the database first, so it happens exactly once whoever asks for it; a conversation's
quota reservation is settled with the seconds and cost of all its sessions once none is open.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.avatars.base import AvatarProvider, ProviderSession
from visavis.avatars.errors import ProviderError
from visavis.db.base import utcnow
from visavis.db.models import AvatarSession, Conversation
from visavis.db.repositories.avatar_sessions import AvatarSessionRepository
from visavis.ops.metrics import Metrics
from visavis.tenancy import quotas
from visavis.tenancy.crypto import SecretBox

logger = logging.getLogger(__name__)

# The key under which a session's server-side channel address is kept with its credentials.
CHANNEL_KEY = "_server_channel_url"

#: Why an avatar stopped or fell back (the reasons the records and the API use).
REASONS = (
    "connection_failed",
    "timeout",
    "quota_exceeded",
    "provider_error",
    "user_disabled",
    "renewed",
    "conversation_ended",
    "client_gone",
    "max_duration",
    "orphaned_at_provider",
    "stop_retried",
)


@dataclass(frozen=True, slots=True)
class StopOutcome:
    """What one stop did: whether this caller stopped it, and what it cost."""

    stopped: bool
    streaming_seconds: float = 0.0
    cost_microusd: int = 0


class AvatarStore:
    """Database side of provider sessions: rows, events, stops, settlement."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: Mapping[str, AvatarProvider],
        box: SecretBox,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.providers = providers
        self.box = box
        self.metrics = metrics

    async def created(
        self, conversation: Conversation, *, quality: str | None, voice: str | None
    ) -> uuid.UUID:
        """A row for a session about to be created at the provider."""
        async with self.sessions() as db:
            repo = AvatarSessionRepository(db)
            row_id = await repo.insert(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.id,
                provider=conversation.avatar_provider or "local",
                avatar_id=conversation.avatar_id,
                quality=quality,
                voice=voice,
            )
            await repo.insert_event(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.id,
                avatar_session_id=row_id,
                kind="creating",
            )
            await db.commit()
            return row_id

    async def provider_id_known(self, row_id: uuid.UUID, provider_session_id: str) -> None:
        async with self.sessions() as db:
            await AvatarSessionRepository(db).set_provider_session_id(row_id, provider_session_id)
            await db.commit()

    async def ready(
        self, conversation: Conversation, row_id: uuid.UUID, session: ProviderSession
    ) -> None:
        """The session is up: keep its browser credentials (encrypted) and when it expires."""
        secret = dict(session.media or {})
        if session.channel_url is not None:
            secret[CHANNEL_KEY] = session.channel_url
        token = self.box.encrypt(json.dumps(secret)) if secret else None
        async with self.sessions() as db:
            repo = AvatarSessionRepository(db)
            await repo.mark_ready(
                row_id,
                provider_session_id=session.session_id,
                browser_token_encrypted=token,
                expires_at=session.expires_at,
            )
            await repo.insert_event(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.id,
                avatar_session_id=row_id,
                kind="started",
            )
            await db.commit()

    def media_of(self, row: AvatarSession) -> dict[str, Any] | None:
        """The browser credentials of a ready session (decrypted)."""
        if row.browser_token_encrypted is None:
            return None
        media: dict[str, Any] = json.loads(self.box.decrypt(row.browser_token_encrypted))
        media.pop(CHANNEL_KEY, None)
        return media or None

    def channel_url_of(self, row: AvatarSession) -> str | None:
        """Where the server's control channel of a ready session connects, if it has one."""
        if row.browser_token_encrypted is None:
            return None
        url = json.loads(self.box.decrypt(row.browser_token_encrypted)).get(CHANNEL_KEY)
        return url if isinstance(url, str) else None

    async def event(
        self,
        conversation: Conversation,
        kind: str,
        *,
        reason: str | None = None,
        row_id: uuid.UUID | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        async with self.sessions() as db:
            await AvatarSessionRepository(db).add_event(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.id,
                avatar_session_id=row_id,
                kind=kind,
                reason=reason,
                detail=detail,
            )
            await db.commit()

    async def avatar_off(
        self, conversation: Conversation, *, reason: str, detail: str, release_quota: bool
    ) -> None:
        """The conversation goes on audio-only: say so on its row, give back unused quota."""
        async with self.sessions() as db:
            await db.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(avatar_enabled=False, avatar_reason=reason, avatar_detail=detail[:300])
            )
            if release_quota and conversation.quota_reservation_id is not None:
                await quotas.release(
                    db, conversation.quota_reservation_id, tenant_id=conversation.tenant_id
                )
            await db.commit()

    async def stop(self, row_id: uuid.UUID, *, reason: str, settle: bool) -> StopOutcome:
        """Stop one provider session exactly once, record it, and settle when it was the last."""
        async with self.sessions() as db:
            row = await AvatarSessionRepository(db).claim_stop(row_id, reason=reason)
            await db.commit()
        if row is None:
            return StopOutcome(stopped=False)
        provider = self.providers.get(row.provider)
        stopped_at_provider = False
        status = "stopped"
        if provider is not None and row.provider_session_id:
            try:
                stopped_at_provider = await provider.stop(row.provider_session_id)
            except ProviderError as exc:
                # Left in "stopping": the sweeper retries it after a while.
                logger.warning("could not stop %s session: %s", row.provider, exc.message)
                return StopOutcome(stopped=False)
        elif not row.provider_session_id:
            status = "failed"  # it never existed at the provider
        streamed = max(0.0, (utcnow() - row.started_at).total_seconds()) if row.started_at else 0.0
        cost = 0
        if provider is not None and row.started_at is not None:
            # A prepaid provider charged its whole session length when it was created.
            cost = provider.billing.cost_microusd(
                streamed_s=streamed, requested_s=provider.limits.max_session_s
            )
            if self.metrics is not None:
                self.metrics.avatar_cost_incurred(provider=row.provider, microusd=cost)
        async with self.sessions() as db:
            repo = AvatarSessionRepository(db)
            await repo.finish_stop(
                row_id, status=status, streaming_seconds=streamed, cost_microusd=cost
            )
            await repo.add_event(
                tenant_id=row.tenant_id,
                conversation_id=row.conversation_id,
                avatar_session_id=row_id,
                kind="stopped",
                reason=reason,
                detail={
                    "streaming_seconds": round(streamed, 3),
                    "cost_microusd": cost,
                    "closed_at_provider": stopped_at_provider,
                },
            )
            await db.commit()
        if settle:
            await self.settle(row.conversation_id)
        return StopOutcome(stopped=True, streaming_seconds=streamed, cost_microusd=cost)

    async def settle(self, conversation_id: uuid.UUID) -> bool:
        """Settle the conversation's quota reservation once none of its sessions is open."""
        async with self.sessions() as db:
            conversation = await db.get(Conversation, conversation_id)
            if conversation is None or conversation.quota_reservation_id is None:
                return False
            totals = await AvatarSessionRepository(db).totals(conversation_id)
            if totals.open_sessions:
                return False
            settled = await quotas.settle(
                db,
                conversation.quota_reservation_id,
                tenant_id=conversation.tenant_id,
                actual_seconds=totals.streaming_seconds,
                cost_microusd=totals.cost_microusd,
            )
            await db.commit()
            return settled
