"""The demo twin (Maya Okafor, an invented person): seeded so a fresh install can talk to one."""

from __future__ import annotations

import uuid
from importlib.resources import files

from sqlalchemy.ext.asyncio import AsyncSession

from visavis.db.models import Twin
from visavis.db.repositories.twins import TwinRepository
from visavis.mind.importing import parse
from visavis.mind.schemas import ItemIn
from visavis.mind.service import MindService, Progress

DEMO_NAME = "Maya Okafor (demo)"
DEMO_BIO = (
    "Maya Okafor, born in Enugu in 1986 and raised in Manchester, is head of design at "
    "Brisa Robotics in Lisbon, where she designs robots for hospital pharmacies."
)
DEMO_STYLE = "Warm and direct, with a dry sense of humour; short sentences."


def demo_items() -> list[ItemIn]:
    """The demo twin's facts and stories, from the files shipped with the package."""
    root = files("visavis.mind.demo")
    facts = parse(root.joinpath("maya_facts.jsonl").read_text("utf-8"), "jsonl")
    stories = parse(root.joinpath("maya_stories.md").read_text("utf-8"), "markdown")
    return facts + stories


async def ensure_demo_twin(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    mind: MindService,
    *,
    progress: Progress | None = None,
) -> tuple[Twin, bool]:
    """The tenant's demo twin, created with its memory when missing; the caller commits."""
    repo = TwinRepository(session, tenant_id)
    existing = await repo.find_by_name(DEMO_NAME)
    if existing is not None:
        return existing, False
    twin = await repo.add(
        Twin(
            name=DEMO_NAME,
            bio=DEMO_BIO,
            speaking_style=DEMO_STYLE,
            voice="bundled",
            learning=False,
            memory_version=0,
        )
    )
    await mind.write(session, tenant_id, twin.id, demo_items(), progress=progress)
    return twin, True
