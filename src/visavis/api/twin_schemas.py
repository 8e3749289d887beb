"""Request and response bodies of ``/v1/twins`` and twin memory."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr, field_validator

from visavis.agents.openai_compatible import OpenAICompatibleOptions
from visavis.api.schemas import AvatarRequest, JsonUUID, StrictModel, VocabularyTerm
from visavis.db.models import MemoryItem, MemoryQuery, Twin
from visavis.speech.stt.vocabulary import MAX_TERMS


class PersonaBody(StrictModel):
    bio: str = Field(default="", max_length=4000, description="A short biography.")
    speaking_style: str = Field(
        default="", max_length=1000, description="How the person speaks, e.g. 'warm, brief'."
    )


class LLMBody(StrictModel):
    """An OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio)."""

    base_url: str = Field(min_length=8, max_length=500)
    model: str = Field(min_length=1, max_length=200)
    api_key: SecretStr | None = Field(default=None, description="Stored encrypted; never shown.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            OpenAICompatibleOptions(base_url=value, model="check")
        except ValueError as exc:
            raise ValueError(str(exc)) from exc
        return value.rstrip("/")


def _voice_name(value: str) -> str:
    if value == "bundled":
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ValueError('"bundled" or the id of a voice profile (a UUID)') from exc


Voice = Annotated[
    str,
    AfterValidator(_voice_name),
    Field(
        max_length=36,
        description='"bundled", or the id of one of the tenant\'s voice profiles: the twin '
        "speaks with it once it is ready (the bundled voice until then, and whenever the "
        "cloned voice is down or slow)",
    ),
]


class TwinCreate(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    persona: PersonaBody = Field(default_factory=PersonaBody)
    llm: LLMBody | None = Field(default=None, description="Omit for the offline twin.")
    voice: Voice = "bundled"
    avatar: AvatarRequest | None = Field(
        default=None, description="The avatar its conversations get when they ask for none."
    )
    learning: bool = Field(
        default=False, description="Learn new facts from conversations (needs an LLM)."
    )
    vocabulary: list[VocabularyTerm] = Field(
        default_factory=list,
        max_length=MAX_TERMS,
        description="Names and terms its visitors are likely to say (its companies, places, "
        "people): the speech recognizer of its conversations spells them as written.",
    )


class TwinUpdate(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    persona: PersonaBody | None = None
    llm: LLMBody | None = None
    voice: Voice | None = None
    avatar: AvatarRequest | None = None
    learning: bool | None = None
    vocabulary: list[VocabularyTerm] | None = Field(default=None, max_length=MAX_TERMS)


class LLMPublic(BaseModel):
    base_url: str
    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    has_api_key: bool


class TwinPublic(BaseModel):
    id: uuid.UUID
    name: str
    persona: PersonaBody
    llm: LLMPublic | None
    mode: Literal["llm", "offline"]
    voice: str
    avatar: dict[str, Any] | None
    learning: bool
    vocabulary: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Twin) -> TwinPublic:
        llm = None
        if row.llm:
            llm = LLMPublic(
                base_url=row.llm["base_url"],
                model=row.llm["model"],
                temperature=row.llm.get("temperature"),
                max_tokens=row.llm.get("max_tokens"),
                has_api_key=row.llm_api_key_encrypted is not None,
            )
        return cls(
            id=row.id,
            name=row.name,
            persona=PersonaBody(bio=row.bio, speaking_style=row.speaking_style),
            llm=llm,
            mode="llm" if llm else "offline",
            voice=row.voice,
            avatar=row.avatar,
            learning=row.learning,
            vocabulary=list(row.vocabulary or ()),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class TwinList(BaseModel):
    items: list[TwinPublic]


class FactPublic(BaseModel):
    id: uuid.UUID
    statement: str
    subject: str | None
    source: str | None
    source_conversation_id: uuid.UUID | None
    valid: bool
    valid_from: datetime
    valid_until: datetime | None
    superseded_by: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, row: MemoryItem) -> FactPublic:
        return cls(
            id=row.id,
            statement=row.text,
            subject=row.subject,
            source=row.source,
            source_conversation_id=row.source_conversation_id,
            valid=row.valid_until is None,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            superseded_by=row.superseded_by,
            created_at=row.created_at,
        )


class StoryPublic(BaseModel):
    id: uuid.UUID
    title: str
    text: str
    tags: list[str]
    when: datetime | None
    source: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: MemoryItem) -> StoryPublic:
        return cls(
            id=row.id,
            title=row.title or "",
            text=row.text,
            tags=list(row.tags or []),
            when=row.happened_at,
            source=row.source,
            created_at=row.created_at,
        )


class FactCreated(FactPublic):
    superseded: int = Field(description="How many older facts this one replaced.")


class FactList(BaseModel):
    items: list[FactPublic]


class StoryList(BaseModel):
    items: list[StoryPublic]


class ImportResult(BaseModel):
    facts: int
    stories: int
    duplicates: int
    superseded: int


class SearchHit(BaseModel):
    id: uuid.UUID
    kind: str
    title: str | None
    text: str
    valid: bool
    score: float
    confidence: float
    lexical_rank: int | None
    similarity: float


class SearchResult(BaseModel):
    items: list[SearchHit]


class AskBody(StrictModel):
    question: str = Field(min_length=1, max_length=2000)
    conversation_id: JsonUUID | None = None


class UsedItem(BaseModel):
    id: str
    kind: str
    title: str | None
    text: str


class AskAnswer(BaseModel):
    answer: str
    mode: str
    dont_know: bool
    used: list[UsedItem]
    retrieved: list[dict[str, Any]]


class QueryPublic(BaseModel):
    id: uuid.UUID
    question: str
    answer: str
    mode: str
    used: list[str]
    retrieved: list[dict[str, Any]]
    conversation_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, row: MemoryQuery) -> QueryPublic:
        return cls(
            id=row.id,
            question=row.question,
            answer=row.answer,
            mode=row.mode,
            used=list(row.used or []),
            retrieved=list(row.retrieved or []),
            conversation_id=row.conversation_id,
            created_at=row.created_at,
        )


class QueryList(BaseModel):
    items: list[QueryPublic]
