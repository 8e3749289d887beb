"""While the database is unreachable REST answers 503 with Retry-After, never 500.

The outage is a PostgreSQL URL on a port where nothing listens, or an SQLite "file" that is
a directory (it cannot be opened): nothing shared is stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_errors_and_auth import assert_problem
from tests.conftest import TEST_SECRET
from tests.fakes.loopback import free_port
from visavis.app import create_app
from visavis.config import Settings
from visavis.tenancy.keys import generate_key


def _unreachable_urls(tmp: Path) -> dict[str, str]:
    directory = tmp / "visavis.db"
    directory.mkdir()
    return {
        "postgres": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/visavis",
        "sqlite": f"sqlite+aiosqlite:///{directory}",
    }


@pytest.fixture(params=["postgres", "sqlite"])
async def outage_client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    url = _unreachable_urls(tmp_path)[request.param]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        env="production",
        secret_key=TEST_SECRET,
        sweeper_interval_s=3600,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http:
            yield http


async def test_rest_answers_503_with_retry_after_while_the_database_is_away(
    outage_client: httpx.AsyncClient,
) -> None:
    key = {"Authorization": f"Bearer {generate_key().plaintext}"}
    for method, path, body in (
        ("GET", "/v1/conversations", None),
        ("POST", "/v1/conversations", {"user_ref": "u"}),
        ("GET", "/v1/tenant/usage", None),
    ):
        response = await outage_client.request(method, path, json=body, headers=key)
        problem = assert_problem(response, 503)
        assert problem["code"] == "database_unavailable"
        assert int(response.headers["retry-after"]) >= 1
        assert "retry" in str(problem["detail"])
    ready = await outage_client.get("/readyz")
    assert ready.status_code == 503
