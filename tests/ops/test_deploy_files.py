"""The deployment files: what can be checked without pulling images (nginx -t, YAML, lints)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.nginx_process import NGINX_CONF, find_nginx, loopback_nginx_conf
from visavis.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def nginx() -> str:
    path = find_nginx()
    if path is None:
        message = "nginx is missing: install the Debian package 'nginx'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    main = loopback_nginx_conf(tmp_path, listen=18080, upstreams=[18001, 18002])
    result = subprocess.run(
        [nginx(), "-t", "-q", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_nginx_configuration_is_sticky_per_conversation_and_upgrades_websockets() -> None:
    conf = NGINX_CONF.read_text()
    assert re.search(r"hash \$visavis_conversation consistent;", conf)
    assert "/v1/conversations/(?<conversation_id>" in conf and "/c/(?<page_conversation>" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert re.search(r"server visavis-1:8000", conf) and re.search(r"server visavis-2:8000", conf)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["nginx"]["volumes"]
    assert "./nginx/visavis.conf:/etc/nginx/conf.d/default.conf:ro" in mounts


def test_compose_has_two_instances_on_postgres_and_redis() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"visavis-1", "visavis-2", "postgres", "redis", "nginx"} <= set(services)
    for name in ("visavis-1", "visavis-2"):
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        env = service["environment"]
        assert env["VISAVIS_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["VISAVIS_DATABASE_URL"]
        assert env["VISAVIS_REDIS_URL"].startswith("redis://redis:")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    for service in services.values():  # every file a service mounts is in the repository
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source


def test_the_example_environment_names_only_real_settings() -> None:
    names = []
    for line in (DEPLOY / "visavis.env.example").read_text().splitlines():
        match = re.match(r"^#?\s*(VISAVIS_[A-Z0-9_]+)=", line)
        if match:
            names.append(match.group(1))
    assert names
    fields = {f"VISAVIS_{name.upper()}" for name in Settings.model_fields}
    assert set(names) - fields == set()


def test_dockerfile_is_multi_stage_non_root_with_the_voice_and_a_health_check() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, re.M)
    assert len(stages) >= 2
    run_stage = text.split(f"AS {stages[-1]}", 1)[1]
    assert re.search(r"^USER (?!root\b|0\b)\w+", run_stage, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*?/readyz", run_stage, re.M)
    assert "PiperVoicePaths.default()" in text  # the build fails if the voice is not inside
    # every Debian library the server needs at run time is installed in the run stage
    needed = [
        line.split()[0]
        for line in (ROOT / "system-packages.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for package in needed:
        assert package in run_stage, package
    hadolint = shutil.which("hadolint")
    if hadolint is not None:  # not packaged in Debian; used when a developer has it
        result = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True)
        assert result.returncode == 0, result.stdout.decode()
