"""The shipped nginx configuration, run by Debian's real nginx on loopback: a conversation's
requests stay on one instance, conversations spread over both, and a dead instance's
conversations move to the other; uploads the instances take reach them, and streamed answers
pass as they come."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer, free_port
from tests.nginx_process import loopback_nginx_conf
from tests.ops.test_deploy_files import nginx

#: Set by the client once it has the first part of a streamed answer: the second part waits.
FIRST_PART_SEEN = threading.Event()


def _instance(name: str) -> Starlette:
    async def who(request: Request) -> PlainTextResponse:
        body = await request.body()
        return PlainTextResponse(f"{name} {len(body)}" if body else name)

    async def parts() -> AsyncIterator[bytes]:
        yield b"event: transcript.text.delta\n\n"
        seen = await asyncio.to_thread(FIRST_PART_SEEN.wait, 10)
        yield b"event: transcript.text.done\n\n" if seen else b"event: error\n\n"

    async def streamed(request: Request) -> StreamingResponse:
        await request.body()
        return StreamingResponse(parts(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/audio/transcriptions", streamed, methods=["POST"]),
            Route("/{path:path}", who, methods=["GET", "POST"]),
        ]
    )


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


def test_uploads_reach_the_instances_and_streams_pass_as_they_come(
    balanced: tuple[str, list[LoopbackServer]],
) -> None:
    base, _ = balanced
    recording = b"\0" * (5 * 1024 * 1024)  # a 5 MB file: over the 1 MB of other requests
    FIRST_PART_SEEN.clear()
    with httpx.Client(base_url=base, timeout=15) as http:
        refused = http.post("/v1/tenant/interview-plans", content=recording)
        assert refused.status_code == 413  # nginx's own limit for ordinary requests
        for path in ("/v1/lipsync", f"/v1/voices/{uuid.uuid4()}/samples"):
            upload = http.post(path, content=recording)
            assert upload.status_code == 200 and upload.text.endswith(f" {len(recording)}")
        with http.stream("POST", "/v1/audio/transcriptions", content=recording) as answer:
            assert answer.status_code == 200
            lines = answer.iter_lines()
            # The second part is only sent once the first has arrived here: a proxy that
            # held the answer back would stall it.
            assert next(lines) == "event: transcript.text.delta"
            FIRST_PART_SEEN.set()
            rest = [line for line in lines if line]
    assert rest == ["event: transcript.text.done"]
