"""Schemathesis over the OpenAPI spec, against a real server: no input produces a 5xx.

Bounded (a fixed number of examples per operation, derandomized) so it stays well under a
minute in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET
from tests.server_process import ServerProcess
from visavis.cli import app as cli

EXAMPLES_PER_OPERATION = 25
ADMIN_KEY = "admin-key-for-schemathesis-0123456789abcdefghij"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    home = tmp_path_factory.mktemp("schemathesis")
    env = {
        "VISAVIS_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'visavis.db'}",
        "VISAVIS_SECRET_KEY": TEST_SECRET,
        "VISAVIS_ADMIN_API_KEY": ADMIN_KEY,
        "VISAVIS_RATE_LIMIT_TENANT_PER_S": "0",
        "VISAVIS_RATE_LIMIT_KEY_PER_S": "0",
        "VISAVIS_LOG_LEVEL": "warning",
        # Fuzzed webhook URLs are never called: no request leaves the machine.
        "VISAVIS_WEBHOOK_DELIVERY": "false",
    }
    created = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert created.exit_code == 0, created.output
    created = CliRunner().invoke(cli, ["tenants", "create", "fuzz"], env=env)
    assert created.exit_code == 0, created.output
    process = ServerProcess(cwd=Path(home), env=env).start()
    try:
        yield process, created.stdout.strip()
    finally:
        process.stop()


def _fuzz(operation: Any, base_url: str, headers: dict[str, str], failures: list[str]) -> None:
    """Call one operation with generated inputs; note every 5xx with a command to replay it."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} from: {case.as_curl_command()}")

    call()


@pytest.mark.slow
def test_no_input_produces_a_server_error(server: tuple[ServerProcess, str]) -> None:
    process, key = server
    schema = schemathesis.openapi.from_url(process.base_url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        admin = operation.path.startswith("/v1/admin")
        headers = {"Authorization": f"Bearer {ADMIN_KEY if admin else key}"}
        _fuzz(operation, process.base_url, headers, failures)
    assert operations >= 20
    assert failures == [], "\n".join(failures[:10]) + "\n" + process.log()[-3000:]
