"""Twin memory: retrieval quality, "I don't know" on unanswerable questions, latency. JSON.

Quality: the demo twin (Maya Okafor, shipped with the package) and the question set in
``bench/data/twin_questions.jsonl`` (answerable questions name the memory items that answer
them; unanswerable ones are distractors). ``dev`` questions were used while tuning the
retrieval and the confidence threshold; ``held`` questions were not: report both.

Latency: the same twin padded to ``--items`` memory items; hybrid retrieval timed on SQLite
and PostgreSQL (warm cache; the first, cold load is reported apart), and the offline twin
agent's time from the question to its first text delta.

    .venv/bin/python bench/twins.py [--items 10000] [--pg-url URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from visavis.agents.base import Message
from visavis.agents.twin import TwinAgent, TwinAgentOptions, is_dont_know
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.migrate import upgrade
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.tenant_scope import install_tenant_scoping, scope_to_tenant
from visavis.mind.demo_twin import ensure_demo_twin
from visavis.mind.embedding import WordLlamaEmbedder
from visavis.mind.retrieval import Hit
from visavis.mind.schemas import FactIn, ItemIn, StoryIn
from visavis.mind.service import MindService
from visavis.mind.twin_setup import load_twin_setup
from visavis.tenancy.crypto import SecretBox

QUESTIONS = Path(__file__).parent / "data" / "twin_questions.jsonl"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

_PLACES = [
    "Lagos",
    "Berlin",
    "Oslo",
    "Kyoto",
    "Quito",
    "Hanoi",
    "Perth",
    "Tunis",
    "Cusco",
    "Riga",
    "Bergen",
    "Accra",
    "Lyon",
]
_PEOPLE = [
    "a colleague",
    "an old friend",
    "my cousin",
    "a neighbour",
    "the team",
    "a client",
    "two students",
]
_THINGS = [
    "a conference",
    "a workshop",
    "a trade fair",
    "a weekend trip",
    "a hackathon",
    "a wedding",
    "a long meeting",
    "a supplier visit",
    "a product launch",
    "a training course",
]
_DETAILS = [
    "the trains were late",
    "it rained every day",
    "we ate too much",
    "the hotel was noisy",
    "the coffee was excellent",
    "we got lost twice",
    "the demo worked",
    "the demo crashed",
    "I forgot my charger",
    "we met a famous architect",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values_ms), 2),
        "p95_ms": round(_percentile(values_ms, 0.95), 2),
        "max_ms": round(max(values_ms), 2),
        "n": len(values_ms),
    }


def filler(count: int, seed: int = 7) -> Iterator[ItemIn]:
    """Plausible, distinct memory items that answer none of the questions."""
    rng = random.Random(seed)
    for n in range(count):
        place, who = rng.choice(_PLACES), rng.choice(_PEOPLE)
        thing, detail = rng.choice(_THINGS), rng.choice(_DETAILS)
        year = rng.randint(2003, 2024)
        if n % 3 == 0:
            yield StoryIn(
                title=f"{thing.capitalize()} in {place}, number {n}",
                text=f"In {year} I went to {thing} in {place} with {who}. {detail.capitalize()}, "
                f"and we still joke about it (note {n}).",
                tags=[place.lower(), "travel"],
                when=f"{year}",
            )
        else:
            yield FactIn(statement=f"In {year} I spent a week in {place} with {who} (entry {n}).")


def _matches(hit: Hit, key: str) -> bool:
    kind, _, name = key.partition(":")
    item = hit.item
    if kind != item.kind:
        return False
    if kind == "story":
        return item.title == name
    return _fact_subject(item.text) == name


_SUBJECTS: dict[str, str] = {}


def _fact_subject(text: str) -> str | None:
    return _SUBJECTS.get(text)


async def _quality(
    mind: MindService,
    sessions: Any,
    tenant: uuid.UUID,
    twin: uuid.UUID,
    threshold: float,
    splits: set[str] | None,
) -> dict[str, Any]:
    box = SecretBox.from_config(encryption_keys=None, secret_key="bench-secret-key")
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line]
    questions = [q for q in questions if splits is None or q["split"] in splits]
    by_split: dict[str, dict[str, list[float]]] = {}
    misses: list[str] = []
    wrong: list[str] = []
    for question in questions:
        split = by_split.setdefault(
            question["split"], {"recall": [], "dont_know": [], "answered": [], "grounded": []}
        )
        async with sessions() as session:
            await scope_to_tenant(session, tenant, switch_role=False)
            hits = await mind.search(session, tenant, twin, question["q"], limit=5)
        setup = await load_twin_setup(
            mind, sessions, box, tenant_id=tenant, twin_id=twin, switch_role=False
        )
        agent = TwinAgent(setup, options=TwinAgentOptions(threshold=threshold))
        answer = "".join([d async for d in agent.stream([Message("user", question["q"])])])
        dont_know = is_dont_know(answer)
        expected = question["expect"]
        if expected:
            found = any(_matches(h, key) for h in hits for key in expected)
            split["recall"].append(1.0 if found else 0.0)
            split["answered"].append(0.0 if dont_know else 1.0)
            if not found and question["split"] == "dev":
                misses.append(question["q"])
            if not dont_know and agent.last_turn is not None:
                used = [h for h in hits if str(h.item.id) in agent.last_turn.used]
                good = any(_matches(h, key) for h in used for key in expected)
                split["grounded"].append(1.0 if good else 0.0)
        else:
            split["dont_know"].append(1.0 if dont_know else 0.0)
            if not dont_know and question["split"] == "dev":
                wrong.append(question["q"])
    report: dict[str, Any] = {}
    for name, values in by_split.items():
        report[name] = {
            "answerable": len(values["recall"]),
            "unanswerable": len(values["dont_know"]),
            "recall_at_5": round(statistics.mean(values["recall"]), 3),
            "dont_know_share_on_unanswerable": round(statistics.mean(values["dont_know"]), 3),
            "answered_share_on_answerable": round(statistics.mean(values["answered"]), 3),
            "answers_from_an_expected_item": round(statistics.mean(values["grounded"]), 3),
        }
    report["dev_recall_misses"] = misses
    report["dev_unanswerable_answered"] = wrong
    return report


async def _latency(
    mind: MindService, sessions: Any, tenant: uuid.UUID, twin: uuid.UUID, rounds: int
) -> dict[str, Any]:
    questions = [json.loads(line)["q"] for line in QUESTIONS.read_text().splitlines() if line]
    async with sessions() as session:
        await scope_to_tenant(session, tenant, switch_role=False)
        start = time.perf_counter()
        await mind.search(session, tenant, twin, "warm up", limit=5)
        cold_ms = (time.perf_counter() - start) * 1000
    timings: list[float] = []
    cpu: list[float] = []
    for n in range(rounds):
        question = questions[n % len(questions)]
        async with sessions() as session:
            await scope_to_tenant(session, tenant, switch_role=False)
            start, start_cpu = time.perf_counter(), time.process_time()
            await mind.search(session, tenant, twin, question, limit=5)
            timings.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    box = SecretBox.from_config(encryption_keys=None, secret_key="bench-secret-key")
    first_delta: list[float] = []
    for n in range(min(rounds, 60)):
        setup = await load_twin_setup(
            mind, sessions, box, tenant_id=tenant, twin_id=twin, switch_role=False
        )
        agent = TwinAgent(setup)
        start = time.perf_counter()
        stream = agent.stream([Message("user", questions[n % len(questions)])])
        await anext(stream)
        first_delta.append((time.perf_counter() - start) * 1000)
        await stream.aclose()
    return {
        "cold_first_search_ms": round(cold_ms, 1),
        "search": _summary(timings),
        # This process's CPU time per search (the database server's is not in it): what the
        # work costs, apart from waiting for a core on a busy machine.
        "search_cpu_of_this_process": _summary(cpu),
        "twin_agent_text_to_first_delta": _summary(first_delta),
    }


async def _fill(mind: MindService, sessions: Any, tenant: uuid.UUID, items: int) -> uuid.UUID:
    async with sessions() as session:
        twin, _ = await ensure_demo_twin(session, tenant, mind)
        await session.commit()
        twin_id = twin.id
    missing = max(0, items - 58)
    batch: list[ItemIn] = []
    for item in filler(missing):
        batch.append(item)
        if len(batch) == 2000:
            async with sessions() as session:
                await mind.write(session, tenant, twin_id, batch)
                await session.commit()
            batch = []
    if batch:
        async with sessions() as session:
            await mind.write(session, tenant, twin_id, batch)
            await session.commit()
    return twin_id


async def _database(url: str, args: argparse.Namespace, quality: bool) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        sessions = create_session_factory(engine)
        install_tenant_scoping(sessions)
        mind = MindService(WordLlamaEmbedder(), recheck_s=args.recheck_s)
        async with sessions() as session:
            tenant = (
                await TenantRepository(session).create(name=f"bench-{secrets.token_hex(3)}")
            ).id
            await session.commit()
        result: dict[str, Any] = {}
        if quality:
            async with sessions() as session:
                twin, _ = await ensure_demo_twin(session, tenant, mind)
                await session.commit()
            for item in await _demo_subjects(sessions, tenant, twin.id):
                _SUBJECTS[item[0]] = item[1]
            splits = None if args.split is None else {args.split}
            result["quality"] = await _quality(
                mind, sessions, tenant, twin.id, args.threshold, splits
            )
        async with sessions() as session:
            big_tenant = (
                await TenantRepository(session).create(name=f"bench-big-{secrets.token_hex(3)}")
            ).id
            await session.commit()
        start = time.perf_counter()
        big_twin = await _fill(mind, sessions, big_tenant, args.items)
        result["items"] = args.items
        result["fill_s"] = round(time.perf_counter() - start, 1)
        if engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk import: the planner then knows the GIN index
            # beats scanning the twin's rows.
            async with engine.connect() as connection:
                await connection.execute(text("ANALYZE memory_items"))
                await connection.commit()
        result["latency"] = await _latency(mind, sessions, big_tenant, big_twin, args.rounds)
        return result
    finally:
        await engine.dispose()


async def _demo_subjects(
    sessions: Any, tenant: uuid.UUID, twin: uuid.UUID
) -> list[tuple[str, str]]:
    from visavis.db.repositories.memory import MemoryRepository

    async with sessions() as session:
        rows = await MemoryRepository(session, tenant).list(twin, kind="fact")
        return [(r.text, r.subject or "") for r in rows]


async def _postgres(admin_url: str, args: argparse.Namespace) -> dict[str, Any]:
    name = f"visavis_bench_twins_{secrets.token_hex(4)}"
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        return await _database(url, args, quality=args.quality_on_postgres)
    finally:
        admin = await asyncpg.connect(dsn, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "threshold": args.threshold,
        "recheck_s": args.recheck_s,
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        report["sqlite"] = await _database(url, args, quality=True)
    if not args.no_postgres:
        report["postgresql"] = await _postgres(args.pg_url, args)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--threshold", type=float, default=TwinAgentOptions().threshold)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--recheck-s", type=float, default=1.0, help="VISAVIS_TWIN_MEMORY_RECHECK_S (0: always)"
    )
    parser.add_argument("--split", choices=["dev", "held"], help="only this part (tuning: dev)")
    parser.add_argument("--quality-on-postgres", action="store_true")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
