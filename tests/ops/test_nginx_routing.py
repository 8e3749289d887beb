"""The shipped nginx configuration, run by Debian's real nginx on loopback: a conversation's
requests stay on one instance, conversations spread over both, and a dead instance's
conversations move to the other."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer, free_port
from tests.nginx_process import loopback_nginx_conf
from tests.ops.test_deploy_files import nginx


def _instance(name: str) -> Starlette:
    async def who(request: Request) -> PlainTextResponse:
        return PlainTextResponse(name)

    return Starlette(routes=[Route("/{path:path}", who, methods=["GET", "POST"])])


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[str, list[LoopbackServer]]]:
    instances = [LoopbackServer(_instance(f"visavis-{n}")).start() for n in (1, 2)]
    listen = free_port()
    main = loopback_nginx_conf(tmp_path, listen=listen, upstreams=[i.port for i in instances])
    proc = subprocess.Popen(
        [nginx(), "-c", str(main), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (tmp_path / "error.log").read_text()
                    raise AssertionError(f"nginx did not start: {log}") from None
                time.sleep(0.05)
        yield base, instances
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for instance in instances:
            instance.stop()


def test_a_conversation_sticks_to_one_instance_and_moves_when_it_dies(
    balanced: tuple[str, list[LoopbackServer]],
) -> None:
    base, instances = balanced
    ids = [str(uuid.uuid4()) for _ in range(40)]
    with httpx.Client(base_url=base, timeout=5) as http:
        home = {}
        for cid in ids:
            answers = {
                http.get(f"/v1/conversations/{cid}/ws").text,
                http.post(f"/v1/conversations/{cid}/end").text,
                http.get(f"/c/{cid}").text,
                http.get(f"/v1/conversations/{cid}/transcript").text,
            }
            assert len(answers) == 1, f"conversation {cid} was split over {answers}"
            home[cid] = answers.pop()
        assert set(Counter(home.values())) == {"visavis-1", "visavis-2"}
        spread = Counter(http.get("/v1/tenant/usage").text for _ in range(10))
        assert set(spread) == {"visavis-1", "visavis-2"}  # the rest is round-robin

        instances[0].stop()  # visavis-1 dies
        for cid in ids:
            assert http.get(f"/v1/conversations/{cid}/ws").text == "visavis-2"
        kept = [cid for cid in ids if home[cid] == "visavis-2"]
        assert all(http.get(f"/c/{cid}").text == "visavis-2" for cid in kept)
