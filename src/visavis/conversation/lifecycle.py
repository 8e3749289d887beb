"""Creating and ending conversations: the business rules behind the REST edge."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.avatars.names import REMOTE_PROVIDERS, canonical, provider_configured
from visavis.config import Settings
from visavis.db.models import Conversation, TenantPreferences
from visavis.db.repositories.conversations import ConversationRepository
from visavis.db.repositories.interview_plans import InterviewPlanRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.errors import InvalidInputError
from visavis.tenancy.admission import admit_avatar
from visavis.tenancy.flags import FlagCache

PLANNED_AGENT = "interviewer"


@dataclass(frozen=True, slots=True)
class AvatarChoice:
    """The avatar a conversation asks for."""

    provider: str
    avatar_id: str | None = None
    quality: str | None = None


@dataclass(frozen=True, slots=True)
class AvatarDecision:
    """Whether the conversation gets its avatar, and if not, why (a code and a sentence)."""

    enabled: bool
    reason: str | None = None
    detail: str | None = None


def resolve_choice(
    requested: AvatarChoice | bool | None, prefs: TenantPreferences
) -> AvatarChoice | None:
    """The concrete avatar asked for: ``True`` means the tenant's defaults, and so does
    ``None`` (not said) when the tenant's ``avatar_enabled_default`` is on. Old provider
    names (``heygen``) come out as the provider they mean now."""
    if requested is None:
        requested = bool(prefs.avatar_enabled_default)
    if requested is False:
        return None
    default = canonical(prefs.default_provider)
    if requested is True:
        return AvatarChoice(provider=default, avatar_id=prefs.default_avatar_id)
    provider = canonical(requested.provider)
    if requested.avatar_id is None and provider == default:
        return AvatarChoice(provider, prefs.default_avatar_id, requested.quality)
    return AvatarChoice(provider, requested.avatar_id, requested.quality)


def decide_avatar(settings: Settings, choice: AvatarChoice) -> AvatarDecision:
    """The static checks: is the provider usable here, is the request complete."""
    if not provider_configured(settings, choice.provider):
        return AvatarDecision(
            False,
            "provider_not_configured",
            f"the {choice.provider} provider has no credentials on this server; "
            "the conversation runs audio-only",
        )
    if choice.provider in REMOTE_PROVIDERS and not choice.avatar_id:
        return AvatarDecision(
            False,
            "avatar_id_missing",
            "no avatar_id was given and the tenant has no default_avatar_id",
        )
    return AvatarDecision(True)


async def create_conversation(
    session: AsyncSession,
    *,
    settings: Settings,
    tenant_id: uuid.UUID,
    agents: Collection[str],
    agent: str | None,
    user_ref: str | None,
    avatar: AvatarChoice | bool | None,
    flags: FlagCache | None = None,
    plan: str | None = None,
) -> Conversation:
    """Record a new conversation and decide its avatar; the caller commits.

    An avatar that passes the static checks must also pass the ``avatar`` feature flag and
    reserve the tenant's monthly quota (``conversation.quota_reservation_id``: settle it when
    the avatar stops, release it when the avatar never starts).
    """
    agent_name = agent or settings.default_agent
    if agent_name not in agents:
        known = ", ".join(sorted(agents)) or "none"
        raise InvalidInputError(f"unknown agent {agent_name!r}; this server offers: {known}")
    if plan is not None:
        if agent_name != PLANNED_AGENT:
            raise InvalidInputError(f"only the {PLANNED_AGENT} agent follows an interview plan")
        if await InterviewPlanRepository(session, tenant_id).find(plan) is None:
            raise InvalidInputError(
                f"no interview plan named {plan!r}: store it with "
                f"PUT /v1/tenant/interview-plans/{plan}"
            )
    prefs = await TenantRepository(session).preferences(tenant_id)
    choice = resolve_choice(avatar, prefs)
    conversation = Conversation(
        agent=agent_name, agent_plan=plan, user_ref=user_ref, avatar_requested=choice is not None
    )
    if choice is not None:
        decision = decide_avatar(settings, choice)
        if decision.enabled:
            admission = await admit_avatar(
                session,
                settings=settings,
                tenant_id=tenant_id,
                provider=choice.provider,
                prefs=prefs,
                flags=flags,
            )
            decision = AvatarDecision(admission.enabled, admission.reason, admission.detail)
            if admission.reservation is not None:
                conversation.quota_reservation_id = admission.reservation.id
        conversation.avatar_provider = choice.provider
        conversation.avatar_id = choice.avatar_id
        conversation.avatar_quality = choice.quality
        conversation.avatar_enabled = decision.enabled
        conversation.avatar_reason = decision.reason
        conversation.avatar_detail = decision.detail
    return await ConversationRepository(session, tenant_id).add(conversation)
