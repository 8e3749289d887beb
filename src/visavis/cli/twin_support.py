"""What the ``twins`` and ``mind`` commands share: a tenant's session and the memory service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.cli.errors import fail
from visavis.config import Settings
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.tenants import TenantRepository
from visavis.db.tenant_scope import install_tenant_scoping
from visavis.mind.embedding import WordLlamaEmbedder
from visavis.mind.service import MindService
from visavis.tenancy.crypto import SecretBox


@dataclass
class TenantScope:
    """One tenant of the database, and what commands about its twins need."""

    tenant_id: uuid.UUID
    sessions: async_sessionmaker[AsyncSession]
    mind: MindService
    box: SecretBox


def parse_twin_id(value: str) -> uuid.UUID:
    """A twin id from the command line, or a one-line error."""
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{value!r} is not a twin id: see 'visavis twins list TENANT'")


@asynccontextmanager
async def tenant_scope(settings: Settings, tenant_name: str) -> AsyncIterator[TenantScope]:
    """Open the database for ``tenant_name`` (``NotFoundError`` names the fix)."""
    engine = create_engine(settings.database_url)
    try:
        sessions = create_session_factory(engine)
        install_tenant_scoping(sessions)
        async with sessions() as session:
            tenant = await TenantRepository(session).get_by_name(tenant_name)
        box = SecretBox.from_config(
            encryption_keys=(
                settings.encryption_keys.get_secret_value() if settings.encryption_keys else None
            ),
            secret_key=settings.secret_key.get_secret_value(),
        )
        yield TenantScope(tenant.id, sessions, MindService(WordLlamaEmbedder()), box)
    finally:
        await engine.dispose()
