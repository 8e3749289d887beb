"""Request and response bodies of REST v1 (``XCreate`` / ``XUpdate`` / ``XPublic``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from visavis.avatars.names import ProviderName
from visavis.db.models import Conversation, ConversationTurn, TenantPreferences, TranscriptEntry
from visavis.speech.stt.vocabulary import MAX_TERM_CHARS, MAX_TERMS
from visavis.stored_text import StoredText, check_storable

Provider = ProviderName
Quality = Literal["auto", "high", "medium", "low"]


#: A UUID in a JSON body arrives as a string: the one conversion strict models still make.
JsonUUID = Annotated[uuid.UUID, Field(strict=False)]


class StrictModel(BaseModel):
    """Unknown fields are an error, so typos don't pass silently; types are strict (no
    ``"yes"`` for a boolean, no ``true`` for a number); strings are :data:`StoredText`.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class AvatarRequest(StrictModel):
    provider: Provider
    avatar_id: StoredText | None = Field(default=None, min_length=1, max_length=200)
    quality: Quality | None = None


#: The bounds of a conversation's own end silence: under 300 ms most sentences are cut at
#: their first pause; over 5 s the person wonders whether they were heard.
MIN_END_SILENCE_MS = 300
MAX_END_SILENCE_MS = 5000


class TurnTaking(StrictModel):
    """How the person's spoken turns end in this conversation."""

    end_silence_ms: int | None = Field(
        default=None,
        ge=MIN_END_SILENCE_MS,
        le=MAX_END_SILENCE_MS,
        description="The silence after which the person's spoken turn ends, in ms. Longer "
        "lets people think mid-answer (interviews); shorter answers sooner. Omitted or null: "
        "the server's VISAVIS_STT_END_SILENCE_MS.",
    )


VocabularyTerm = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TERM_CHARS),
    AfterValidator(check_storable),
]


class ConversationCreate(StrictModel):
    agent: StoredText | None = Field(default=None, min_length=1, max_length=50)
    plan: StoredText | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="An interview plan stored by the tenant (for the interviewer agent).",
    )
    user_ref: StoredText | None = Field(default=None, max_length=200)
    avatar: AvatarRequest | bool | None = Field(
        default=None,
        description="True for the tenant's defaults, false for audio-only; omitted, the "
        "tenant's avatar_enabled_default decides.",
    )
    twin: JsonUUID | None = Field(
        default=None, description='The twin an "agent": "twin" conversation talks to.'
    )
    turn_taking: TurnTaking | None = None
    vocabulary: list[VocabularyTerm] | None = Field(
        default=None,
        max_length=MAX_TERMS,
        description="Names and terms the person is likely to say (their name, companies, "
        "products, jargon): the speech recognizer spells them as written here.",
    )


class AvatarPublic(BaseModel):
    enabled: bool
    provider: str | None
    avatar_id: str | None = None
    quality: str | None = None
    reason: str | None = Field(default=None, description="Why an asked-for avatar is off.")
    detail: str | None = None


class TurnTakingPublic(BaseModel):
    end_silence_ms: int | None = Field(
        description="This conversation's end silence in ms; null: the server's default."
    )


class ConversationPublic(BaseModel):
    id: uuid.UUID
    status: str
    agent: str
    plan: str | None = None
    user_ref: str | None
    avatar: AvatarPublic
    created_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    twin: uuid.UUID | None = None
    turn_taking: TurnTakingPublic
    vocabulary: list[str] = Field(description="The names and terms the recognizer expects.")

    @classmethod
    def of(cls, row: Conversation) -> ConversationPublic:
        return cls(
            id=row.id,
            status=row.status,
            agent=row.agent,
            plan=row.agent_plan,
            user_ref=row.user_ref,
            avatar=AvatarPublic(
                enabled=row.avatar_enabled,
                provider=row.avatar_provider,
                avatar_id=row.avatar_id,
                quality=row.avatar_quality,
                reason=row.avatar_reason,
                detail=row.avatar_detail,
            ),
            created_at=row.created_at,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
            twin=row.twin_id,
            turn_taking=TurnTakingPublic(end_silence_ms=row.end_silence_ms),
            vocabulary=list(row.vocabulary or ()),
        )


class ConversationPage(BaseModel):
    items: list[ConversationPublic]
    next_cursor: str | None


class ClientTokenPublic(BaseModel):
    token: str
    expires_at: datetime


class TranscriptItem(BaseModel):
    role: str
    text: str
    actual_start_ms: int | None
    duration_ms: int | None
    interrupted: bool
    created_at: datetime

    @classmethod
    def of(cls, row: TranscriptEntry) -> TranscriptItem:
        return cls(
            role=row.role,
            text=row.text,
            actual_start_ms=row.actual_start_ms,
            duration_ms=row.duration_ms,
            interrupted=row.interrupted,
            created_at=row.created_at,
        )


class TranscriptPublic(BaseModel):
    items: list[TranscriptItem]


class TurnPublic(BaseModel):
    turn_id: int
    trigger: str
    user_text: str | None
    started_at_ms: int
    first_delta_ms: int | None
    first_audio_ms: int | None
    audio_ms: int
    synthesis_ms: int
    synthesis_rtf: float | None
    sentences: int
    interrupted: bool
    outcome: str
    error_code: str | None

    @classmethod
    def of(cls, row: ConversationTurn) -> TurnPublic:
        return cls(
            turn_id=row.seq,
            trigger=row.trigger,
            user_text=row.user_text,
            started_at_ms=row.started_at_ms,
            first_delta_ms=row.first_delta_ms,
            first_audio_ms=row.first_audio_ms,
            audio_ms=row.audio_ms,
            synthesis_ms=row.synthesis_ms,
            synthesis_rtf=row.synthesis_rtf,
            sentences=row.sentences,
            interrupted=row.interrupted,
            outcome=row.outcome,
            error_code=row.error_code,
        )


class TurnsPublic(BaseModel):
    items: list[TurnPublic]


class PreferencesUpdate(StrictModel):
    """Fields given are set; fields left out keep their value; ``null`` removes a limit."""

    avatar_enabled_default: bool | None = None
    default_avatar_id: StoredText | None = Field(default=None, max_length=200)
    default_provider: Provider | None = None
    monthly_avatar_session_limit: int | None = Field(default=None, ge=0, le=10_000_000)
    monthly_avatar_seconds_limit: int | None = Field(default=None, ge=0, le=10**12)
    monthly_cost_limit_usd: float | None = Field(default=None, ge=0, le=10_000_000)


class PreferencesPublic(BaseModel):
    avatar_enabled_default: bool
    default_avatar_id: str | None
    default_provider: str
    monthly_avatar_session_limit: int | None
    monthly_avatar_seconds_limit: int | None
    monthly_cost_limit_usd: float | None

    @classmethod
    def of(cls, row: TenantPreferences) -> PreferencesPublic:
        cost = row.monthly_cost_limit_microusd
        return cls(
            avatar_enabled_default=row.avatar_enabled_default,
            default_avatar_id=row.default_avatar_id,
            default_provider=row.default_provider,
            monthly_avatar_session_limit=row.monthly_avatar_session_limit,
            monthly_avatar_seconds_limit=row.monthly_avatar_seconds_limit,
            monthly_cost_limit_usd=None if cost is None else cost / 1_000_000,
        )
