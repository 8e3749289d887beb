"""A real Visavis server on loopback (in a thread), for WebSocket and end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conversation.live_client import close_connected_clients
from tests.fakes.loopback import LoopbackServer
from visavis.app import create_app
from visavis.cli.serve import uvicorn_options
from visavis.config import Settings
from visavis.context import AppContext
from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.api_keys import ApiKeyRepository
from visavis.db.repositories.tenants import TenantRepository
from visavis.tenancy.keys import generate_key


@dataclass(frozen=True)
class TenantCredentials:
    name: str
    tenant_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class RunningServer:
    def __init__(self, app: FastAPI, server: LoopbackServer) -> None:
        self.app = app
        self.server = server
        self.base_url = server.base_url

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.app.state.ctx
        return ctx

    async def tenant(self, name: str) -> TenantCredentials:
        """A tenant and its key, written from the test's own event loop and engine."""
        engine = create_engine(self.ctx.settings.database_url)
        try:
            async with create_session_factory(engine)() as session:
                tenant = await TenantRepository(session).create(name=name)
                key = generate_key()
                await ApiKeyRepository(session).add(tenant_id=tenant.id, key=key)
                await session.commit()
        finally:
            await engine.dispose()
        return TenantCredentials(name=name, tenant_id=str(tenant.id), key=key.plaintext)


ServerFactory = Callable[..., RunningServer]


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[ServerFactory]:
    """Start a server with the test's database and optional setting overrides."""
    started: list[LoopbackServer] = []

    def start(**overrides: Any) -> RunningServer:
        configured = Settings(_env_file=None, **(settings.model_dump() | overrides))  # type: ignore[call-arg]
        app = create_app(configured)
        server = LoopbackServer(app, options=uvicorn_options(configured)).start()
        started.append(server)
        return RunningServer(app, server)

    yield start
    await close_connected_clients()
    for server in started:
        server.stop()
