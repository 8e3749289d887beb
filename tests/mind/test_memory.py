"""Twin memory on SQLite and PostgreSQL: superseding facts, full-text search, hybrid retrieval."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from visavis.context import AppContext
from visavis.db.models import Twin
from visavis.db.repositories.memory import MemoryRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.repositories.twins import TwinRepository
from visavis.errors import NotFoundError
from visavis.mind.schemas import FactIn, FactUpdate, StoryIn
from visavis.mind.service import MindService


async def _twin(ctx: AppContext, tenant_name: str = "acme") -> tuple[uuid.UUID, uuid.UUID]:
    async with ctx.sessions() as session:
        tenant = await TenantRepository(session).create(name=tenant_name)
        twin = await TwinRepository(session, tenant.id).add(Twin(name="Maya", memory_version=0))
        await session.commit()
        return tenant.id, twin.id


def _mind(ctx: AppContext) -> MindService:
    assert ctx.mind is not None
    return ctx.mind


async def test_a_newer_fact_on_the_same_subject_replaces_the_older_without_deleting_it(
    ctx: AppContext,
) -> None:
    tenant, twin = await _twin(ctx)
    mind = _mind(ctx)
    async with ctx.sessions() as session:
        first = await mind.write(
            session, tenant, twin, [FactIn(statement="I live in Porto.", subject="home city")]
        )
        await session.commit()
    async with ctx.sessions() as session:
        second = await mind.write(
            session, tenant, twin, [FactIn(statement="I live in Lisbon.", subject="Home City")]
        )
        await session.commit()
    assert second.superseded == 1
    async with ctx.sessions() as session:
        rows = await MemoryRepository(session, tenant).list(twin, kind="fact")
        old, new = rows
        assert old.id == first.created[0].id and old.text == "I live in Porto."
        assert old.valid_until is not None and old.superseded_by == new.id
        assert new.valid_until is None
        hits = await mind.search(session, tenant, twin, "Where do you live?")
    assert [h.item.text for h in hits] == ["I live in Lisbon.", "I live in Porto."]
    assert hits[0].item.valid and not hits[1].item.valid


async def test_identical_items_are_stored_once(ctx: AppContext) -> None:
    tenant, twin = await _twin(ctx)
    mind = _mind(ctx)
    async with ctx.sessions() as session:
        result = await mind.write(
            session,
            tenant,
            twin,
            [FactIn(statement="I like tea."), FactIn(statement="I  like TEA.")],
        )
        await session.commit()
        assert len(result.created) == 1 and result.duplicates == 1
        assert await MemoryRepository(session, tenant).count(twin) == 1


async def test_full_text_search_stems_words_and_follows_updates_and_deletes(
    ctx: AppContext,
) -> None:
    tenant, twin = await _twin(ctx)
    mind = _mind(ctx)
    async with ctx.sessions() as session:
        result = await mind.write(
            session,
            tenant,
            twin,
            [
                StoryIn(title="The first marathon", text="I was running in the rain for hours."),
                FactIn(statement="My cat is called Pastel."),
            ],
        )
        await session.commit()
    story, fact = result.created
    async with ctx.sessions() as session:
        repo = MemoryRepository(session, tenant)
        assert await repo.lexical(twin, ["marathons"], 10) == [story.id]
        assert await repo.lexical(twin, ["runs"], 10) == [story.id]
        assert await repo.lexical(twin, ["pastel", "weather"], 10) == [fact.id]
        assert await repo.lexical(twin, ["zebra"], 10) == []
    async with ctx.sessions() as session:
        await mind.update(session, tenant, twin, fact.id, FactUpdate(statement="My dog is Bolo."))
        await session.commit()
    async with ctx.sessions() as session:
        repo = MemoryRepository(session, tenant)
        assert await repo.lexical(twin, ["pastel"], 10) == []
        assert await repo.lexical(twin, ["bolo"], 10) == [fact.id]
        await mind.delete(session, tenant, twin, story.id, "story")
        await session.commit()
    async with ctx.sessions() as session:
        assert await MemoryRepository(session, tenant).lexical(twin, ["marathon"], 10) == []
        if session.get_bind().dialect.name == "sqlite":
            left = await session.scalar(text("SELECT count(*) FROM memory_items_fts"))
            assert left == 1  # the index row of the deleted story went with it


async def test_search_text_cannot_inject_query_syntax(ctx: AppContext) -> None:
    tenant, twin = await _twin(ctx)
    mind = _mind(ctx)
    async with ctx.sessions() as session:
        await mind.write(session, tenant, twin, [FactIn(statement="I like jazz.")])
        await session.commit()
        for question in ('jazz" OR x:*', "NEAR(jazz", "jazz & !(|", "' ; DROP TABLE twins; --"):
            hits = await mind.search(session, tenant, twin, question)
            assert [h.item.text for h in hits] == ["I like jazz."]


async def test_retrieval_finds_paraphrases_and_weighs_unknown_words(ctx: AppContext) -> None:
    tenant, twin = await _twin(ctx)
    mind = _mind(ctx)
    async with ctx.sessions() as session:
        await mind.write(
            session,
            tenant,
            twin,
            [
                FactIn(statement="I have a younger brother, Chidi, who is a doctor."),
                FactIn(statement="My favourite food is jollof rice."),
                StoryIn(title="Meeting Inês", text="We met under a doorway in the rain."),
            ],
        )
        await session.commit()
        about_brother = await mind.search(session, tenant, twin, "What does your brother do?")
        about_sister = await mind.search(session, tenant, twin, "What's your sister's job?")
    assert about_brother[0].item.text.startswith("I have a younger brother")
    assert about_brother[0].confidence > about_sister[0].confidence


async def test_another_tenants_twin_is_not_found_and_memory_stays_apart(ctx: AppContext) -> None:
    tenant_a, twin_a = await _twin(ctx, "alpha")
    tenant_b, twin_b = await _twin(ctx, "beta")
    mind = _mind(ctx)
    async with ctx.sessions() as session:
        await mind.write(session, tenant_a, twin_a, [FactIn(statement="Alpha's secret recipe.")])
        await mind.write(session, tenant_b, twin_b, [FactIn(statement="Beta's own recipe.")])
        await session.commit()
    async with ctx.sessions() as session:
        assert len(await mind.search(session, tenant_a, twin_a, "recipe")) == 1
        with pytest.raises(NotFoundError):  # even right after its owner's question
            await mind.search(session, tenant_b, twin_a, "recipe")
        with pytest.raises(NotFoundError):
            await mind.write(session, tenant_b, twin_a, [FactIn(statement="Planted.")])
        hits = await mind.search(session, tenant_b, twin_b, "secret recipe")
    assert [h.item.text for h in hits] == ["Beta's own recipe."]


async def test_a_write_from_another_instance_is_seen_through_the_memory_version(
    ctx: AppContext,
) -> None:
    tenant, twin = await _twin(ctx)
    embedder = _mind(ctx).embedder
    confirms_always = MindService(embedder, recheck_s=0)
    confirms_rarely = MindService(embedder, recheck_s=60)
    writer = MindService(embedder)
    async with ctx.sessions() as session:
        await writer.write(session, tenant, twin, [FactIn(statement="I play the bass.")])
        await session.commit()
        for reader in (confirms_always, confirms_rarely):
            assert len(await reader.search(session, tenant, twin, "bass")) == 1
    async with ctx.sessions() as session:
        await writer.write(session, tenant, twin, [FactIn(statement="I sing bass.")])
        await session.commit()
    async with ctx.sessions() as session:
        assert len(await confirms_always.search(session, tenant, twin, "bass")) == 2
        # Within its recheck interval an instance answers from its copy ...
        assert len(await confirms_rarely.search(session, tenant, twin, "bass")) == 1
        # ... and its own writes make it confirm at once.
        await confirms_rarely.write(session, tenant, twin, [FactIn(statement="Bass is fun.")])
        await session.commit()
        assert len(await confirms_rarely.search(session, tenant, twin, "bass")) == 3
