"""The shipped alert rules and dashboard: valid for Prometheus, and about metrics we export."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.ops.test_metrics import ADMIN, ADMIN_KEY
from visavis.app import create_app
from visavis.config import Settings
from visavis.ops.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "visavis-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "visavis-dashboard.json"
_NAME = re.compile(r"\b(visavis_[a-z0-9_]+|visavis:[a-z0-9_:]+)")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is missing: install the Debian package 'prometheus'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [promtool(), *args], input=stdin, capture_output=True, timeout=60, cwd=RULES.parent
    )


def exported_names() -> set[str]:
    """Every series name a scrape can hold, histogram and info suffixes included."""
    names: set[str] = set()
    for family in Metrics(version="0").registry.collect():
        base = family.name
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "info": ("_info",),
        }.get(family.type, ("",))
        names.update(base + suffix for suffix in suffixes)
    return names


def recorded_names() -> set[str]:
    document = yaml.safe_load(RULES.read_text())
    return {
        rule["record"]
        for group in document["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_rules_pass_promtool_check() -> None:
    result = run_promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_rule_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", "visavis-rules.test.yml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_scrape_config_passes_promtool_check() -> None:
    result = run_promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_every_alert_of_the_issue_is_there_with_a_runbook() -> None:
    document = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"]: r for g in document["groups"] for r in g["rules"] if "alert" in r}
    assert {
        "VisavisAvatarSuccessRateLow",
        "VisavisAvatarFallbackRateHigh",
        "VisavisFirstAudioSlow",
        "VisavisProviderErrorBurst",
        "VisavisCostPerConversationHigh",
        "VisavisSweeperStoppingOrphans",
    } <= set(alerts)
    runbook = (DEPLOY.parent / "docs" / "operations.md").read_text()
    headings = set(re.findall(r"^#+ (\S+)$", runbook, re.M))
    for name, rule in alerts.items():
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
        assert name in headings, f"docs/operations.md has no section '### {name}'"


def test_rules_and_dashboard_use_only_metrics_we_export() -> None:
    known = exported_names() | recorded_names()
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(_NAME.findall(RULES.read_text())) | {
        name for expr in expressions for name in _NAME.findall(expr)
    }
    assert used - known == set()
    # and the dashboard shows every metric we export, at least once
    shown = {name for expr in expressions for name in _NAME.findall(expr)}
    bases = {re.sub(r"_(bucket|sum|count)$", "", n) for n in shown}
    expected = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exported_names()}
    assert expected - bases == set()


def test_dashboard_is_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24


@pytest.fixture
async def admin_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    overrides = settings.model_dump() | {"admin_api_key": ADMIN_KEY}
    app = create_app(Settings(_env_file=None, **overrides))  # type: ignore[call-arg]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://visavis.test") as http:
            yield http


async def test_a_real_scrape_passes_promtool_check_metrics(
    admin_client: httpx.AsyncClient,
) -> None:
    await admin_client.get("/healthz")
    response = await admin_client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200
    assert "visavis_build_info" in response.text
    result = run_promtool("check", "metrics", stdin=response.content)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""
