"""The conversation WebSocket as a connection: joining, resuming, ending, slow and lost clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid

import httpx
import pytest
import websockets

from tests.conversation.live_client import (
    LiveClient,
    small_receive_buffer_socket,
    start_conversation,
    store_plan,
)
from tests.fakes.openai_compatible import FakeOpenAI
from tests.live_server import RunningServer, ServerFactory

ANSWERS = [
    "I am a backend engineer; for five years I have built Python services and data pipelines "
    "on Kafka and PostgreSQL for a logistics startup, in a team of eight.",
    "I redesigned our order routing service: the old monolith timed out under load, so I split "
    "it into a queue-driven worker pool with a cache, and latency dropped from seconds to 80 ms.",
    "When a teammate and I disagreed about a database migration, we wrote down the trade-offs, "
    "ran a small benchmark together, and picked the safer online migration with a rollback plan.",
    "I would start from the logs and metrics, reproduce the failure in staging, bisect recent "
    "deployments, then add a regression test and an alert so it cannot silently return.",
    "I read design documents from other teams, take on reviews outside my comfort zone, and "
    "this year I learned Rust by rewriting a small parser at work with a mentor's help.",
    "I would like to know how the team measures success for this role in the first six months, "
    "and how on-call work is shared between engineers.",
]


async def _conversation(
    server: RunningServer, body: dict[str, object] | None = None
) -> tuple[str, str, str]:
    tenant = await server.tenant("acme")
    conversation_id, token = await start_conversation(server.base_url, tenant.key, body)
    return conversation_id, token, tenant.key


async def _raw_hello(
    server: RunningServer, conversation_id: str, hello: object
) -> tuple[dict[str, object], int | None]:
    url = server.base_url.replace("http://", "ws://") + f"/v1/conversations/{conversation_id}/ws"
    async with websockets.connect(url) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(json.dumps(hello))
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return first, ws.close_code


async def test_who_may_join(live_server: ServerFactory) -> None:
    server = live_server(ws_hello_timeout_s=0.5)
    conversation_id, token, key = await _conversation(server)
    other_id, other_token, _ = await _conversation_of(server, "other")

    error, code = await _raw_hello(server, conversation_id, {"type": "hello", "token": "v1.x.y"})
    assert (error["code"], code) == ("unauthorized", 4401)
    error, code = await _raw_hello(server, conversation_id, {"type": "hello", "token": other_token})
    assert code == 4401 and "another conversation" in str(error["message"])
    error, code = await _raw_hello(server, conversation_id, {"type": "user_text", "text": "hi"})
    assert (error["code"], code) == ("hello_expected", 4400)
    error, code = await _raw_hello(
        server, conversation_id, {"type": "hello", "token": token, "protocol": 9}
    )
    assert (error["code"], code) == ("protocol_unsupported", 4400)
    error, code = await _raw_hello(
        server, conversation_id, {"type": "hello", "token": token, "sample_rate": 12345}
    )
    assert (error["code"], code) == ("invalid_hello", 4400)
    error, code = await _raw_hello(server, "not-a-uuid", {"type": "hello", "token": token})
    assert code == 4404

    url = server.base_url.replace("http://", "ws://") + f"/v1/conversations/{conversation_id}/ws"
    async with websockets.connect(url) as silent:
        first = json.loads(await asyncio.wait_for(silent.recv(), 5))
        assert first["code"] == "hello_timeout"
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(silent.recv(), 5)
        assert silent.close_code == 4400

    async with httpx.AsyncClient(base_url=server.base_url) as http:
        await http.post(
            f"/v1/conversations/{conversation_id}/end", headers={"Authorization": f"Bearer {key}"}
        )
    error, code = await _raw_hello(server, conversation_id, {"type": "hello", "token": token})
    assert (error["code"], code) == ("conversation_ended", 4410)
    assert other_id != conversation_id


async def _conversation_of(server: RunningServer, name: str) -> tuple[str, str, str]:
    tenant = await server.tenant(name)
    conversation_id, token = await start_conversation(server.base_url, tenant.key)
    return conversation_id, token, tenant.key


async def test_reconnect_resumes_and_takes_over_the_old_connection(
    live_server: ServerFactory,
) -> None:
    server = live_server()
    conversation_id, token, _ = await _conversation(server)
    first = LiveClient(server.base_url, conversation_id, token)
    await first.connect()
    await first.wait_for("state", state="listening")
    await first.send({"type": "user_text", "text": ANSWERS[0]})
    await first.wait_for("turn_end", turn_id=2)
    await first.wait_for("state", state="listening", after=len(first.received) - 3)

    second = LiveClient(server.base_url, conversation_id, token)
    await second.connect()
    ready = await second.wait_for("ready")
    assert ready["resumed"] is True
    assert [e["role"] for e in ready["transcript"]] == ["agent", "user", "agent"]
    assert await first.wait_closed() == 4409
    # The interviewer carries on from where the conversation was: no second greeting.
    await second.send({"type": "user_text", "text": ANSWERS[1]})
    turn = await second.wait_for("turn_end")
    assert turn["turn_id"] == 3
    await second.close()


async def test_rest_end_tells_the_client_and_closes(live_server: ServerFactory) -> None:
    server = live_server()
    conversation_id, token, key = await _conversation(server)
    client = LiveClient(server.base_url, conversation_id, token, playback="none")
    await client.connect()
    await client.wait_for("state", state="speaking")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        ended = await http.post(
            f"/v1/conversations/{conversation_id}/end", headers={"Authorization": f"Bearer {key}"}
        )
        assert ended.json()["status"] == "ended"
    end = await client.wait_for("end")
    assert end["reason"] == "ended_by_api"
    assert await client.wait_closed() == 1000
    await _until(lambda: len(server.ctx.live) == 0)


async def test_client_end_message_ends_the_conversation(live_server: ServerFactory) -> None:
    server = live_server()
    conversation_id, token, key = await _conversation(server)
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("ready")
    await client.send({"type": "end"})
    assert (await client.wait_for("end"))["reason"] == "ended_by_client"
    assert await client.wait_closed() == 1000
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        await _until_status(http, conversation_id, key, "ended")


async def test_abrupt_disconnect_frees_the_conversation(live_server: ServerFactory) -> None:
    server = live_server()
    conversation_id, token, _ = await _conversation(server)
    client = LiveClient(server.base_url, conversation_id, token, playback="none")
    await client.connect()
    await client.wait_for("state", state="speaking")
    assert len(server.ctx.live) == 1
    session = server.ctx.live.get(uuid.UUID(conversation_id))
    assert session is not None
    assert client.ws is not None
    client.ws.transport.abort()
    await _until(lambda: len(server.ctx.live) == 0)
    turn_task = session._turn_task
    assert turn_task is not None and turn_task.done()
    assert session.outbox.closed and session.outbox.pending_bytes >= 0


async def test_a_client_that_stops_reading_is_disconnected_with_4408(
    live_server: ServerFactory,
) -> None:
    server = live_server(ws_send_queue_bytes=16 * 1024, ws_audio_lead_ms=10_000)
    conversation_id, token, _ = await _conversation(server)
    host, port = "127.0.0.1", server.server.port
    url = f"ws://{host}:{port}/v1/conversations/{conversation_id}/ws"
    sock = small_receive_buffer_socket(host, port)
    ws = await websockets.connect(url, sock=sock, max_size=None, max_queue=1)
    await ws.send(json.dumps({"type": "hello", "token": token, "protocol": 1}))
    # Not reading: the server's queue for us fills up and it gives up on us.
    await _until(lambda: len(server.ctx.live) == 0, timeout=30)
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 4408


async def test_a_full_interview_follows_its_stored_plan_to_the_close(
    live_server: ServerFactory,
) -> None:
    server = live_server()
    tenant = await server.tenant("acme")
    plan = await store_plan(server.base_url, tenant.key)
    conversation_id, token = await start_conversation(server.base_url, tenant.key, {"plan": plan})
    key = tenant.key
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("state", state="listening")
    spoken = " ".join(m["text"] for m in client.messages("sentence"))
    assert spoken.startswith("Hi, I'm Sam from the café.")
    answers = iter(
        [
            "Pulling a good espresso shot and steaming silky milk for latte art.",
            "Sorry, what?",
            "I keep calm, batch the drinks and talk to every customer in the line.",
            *["Nothing else, thank you."] * 4,
        ]
    )
    interrupted_once = False
    while not client.messages("end"):
        mark = len(client.received)
        answer = next(answers, None)
        if answer is None:
            said = [
                (m["entry"]["role"], m["entry"]["text"][:70]) for m in client.messages("transcript")
            ]
            raise AssertionError(f"the interview did not close: {said}")
        if not interrupted_once:
            # Listened to in real time (no playback reports), so the reply is still playing.
            client.playback = "none"
        await client.send({"type": "user_text", "text": answer})
        if not interrupted_once:
            await client.wait_for("sentence", after=mark)
            await asyncio.sleep(0.4)
            await client.send({"type": "interrupt"})
            interrupted_once = True
            ended = await client.wait_for("turn_end", after=mark)
            assert ended["interrupted"] is True
            client.playback = "instant"
            mark = len(client.received)
            await client.send({"type": "user_text", "text": "Sorry, please go on."})
        await client.wait_for("turn_end", after=mark, interrupted=False, timeout=60)
        await _either(client, mark)
    assert await client.wait_closed() == 1000
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        await _until_status(http, conversation_id, key, "ended")
        items = (await http.get(f"/v1/conversations/{conversation_id}/transcript")).json()["items"]
        conv = (await http.get(f"/v1/conversations/{conversation_id}")).json()
    assert conv["end_reason"] == "agent_closed"
    agent = [i for i in items if i["role"] == "agent"]
    assert any(i["interrupted"] for i in agent)
    said = [(i["role"], i["text"]) for i in items]
    assert any("rush hour" in i["text"] for i in agent), f"not every question was asked: {said}"
    timed = [i for i in items if i["actual_start_ms"] is not None]
    starts = [i["actual_start_ms"] for i in timed]
    assert starts == sorted(starts)
    assert all(i["duration_ms"] > 0 for i in agent if not i["interrupted"]), [
        (i["text"][:20], i["actual_start_ms"], i["duration_ms"], i["interrupted"]) for i in agent
    ]
    assert "thank you very much" in agent[-1]["text"].lower()


async def _either(client: LiveClient, mark: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after_turn = client.received[mark:]
        ended = next(
            i for i, r in enumerate(after_turn) if r.message and r.message["type"] == "turn_end"
        )
        if client.messages("end") or any(
            r.message and r.message["type"] == "state" and r.message["state"] == "listening"
            for r in after_turn[ended:]
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the turn did not finish")


async def test_openai_agent_through_the_pipeline_and_its_errors(
    live_server: ServerFactory,
) -> None:
    fake = FakeOpenAI(default_reply="Hello from the model. It speaks in two sentences.")
    with fake.serve() as base_url:
        server = live_server(
            openai_base_url=base_url, openai_api_key="sk-test", openai_model="fake-model"
        )
        tenant = await server.tenant("acme")
        conversation_id, token = await start_conversation(
            server.base_url, tenant.key, {"agent": "openai"}
        )
        client = LiveClient(server.base_url, conversation_id, token)
        await client.connect()
        await client.wait_for("state", state="listening")
        await client.send({"type": "user_text", "text": "Hi!"})
        await client.wait_for("turn_end", turn_id=1)
        texts = [m["text"] for m in client.messages("sentence")]
        assert " ".join(texts) == "Hello from the model. It speaks in two sentences."

        fake.configure(fail_status=500)
        mark = len(client.received)
        await client.send({"type": "user_text", "text": "Again?"})
        error = await client.wait_for("error", after=mark)
        assert error["code"] == "agent_unavailable"
        await client.wait_for("state", state="listening", after=mark)
        await client.close()


async def _until(predicate: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _until_status(
    http: httpx.AsyncClient, conversation_id: str, key: str, status: str
) -> None:
    deadline = time.monotonic() + 10
    while True:
        row = await http.get(
            f"/v1/conversations/{conversation_id}", headers={"Authorization": f"Bearer {key}"}
        )
        if row.json()["status"] == status:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"status stayed {row.json()['status']}")
        await asyncio.sleep(0.05)


async def test_a_client_that_stops_reading_altogether_is_released_within_seconds(
    live_server: ServerFactory,
) -> None:
    # A queue far larger than what the socket takes: only the send deadline can notice.
    server = live_server(ws_send_timeout_s=1.0, ws_audio_lead_ms=10_000)
    conversation_id, token, _ = await _conversation(server)
    host, port = "127.0.0.1", server.server.port
    url = f"ws://{host}:{port}/v1/conversations/{conversation_id}/ws"
    sock = small_receive_buffer_socket(host, port)
    ws = await websockets.connect(url, sock=sock, max_size=None, max_queue=1)
    hello = {"type": "hello", "token": token, "protocol": 1, "sample_rate": 48000}
    await ws.send(json.dumps(hello))
    await _until(lambda: len(server.ctx.live) == 1, timeout=30)
    # It keeps talking but never reads: replies pile up beyond what the kernel buffers hold.
    for _ in range(40):
        if len(server.ctx.live) == 0:
            break
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(json.dumps({"type": "user_text", "text": "Please tell me more."}))
        await asyncio.sleep(0.5)
    await _until(lambda: len(server.ctx.live) == 0, timeout=30)
    with contextlib.suppress(Exception):
        ws.transport.abort()


async def test_bad_numbers_and_text_are_refused_and_the_socket_stays(
    live_server: ServerFactory,
) -> None:
    server = live_server()
    conversation_id, token, _ = await _conversation(server)
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("state", state="listening", timeout=60)
    assert client.ws is not None
    await client.ws.send('{"type": "playback", "utterance_id": 1, "position_ms": NaN}')
    await client.wait_for("error", code="invalid_json")
    await client.ws.send('{"type": "playback", "utterance_id": 1, "position_ms": 1e999}')
    await client.wait_for("error", code="invalid_message")
    await client.ws.send('{"type": "user_text", "text": "bad \\ud800 text"}')
    await client.wait_for("error", code="invalid_message")
    await client.send({"type": "ping"})
    await client.wait_for("pong")
    await client.close()


async def test_huge_unauthenticated_hellos_are_refused_before_they_are_read(
    live_server: ServerFactory,
) -> None:
    server = live_server()
    url = server.base_url.replace("http://", "ws://") + f"/v1/conversations/{uuid.uuid4()}/ws"
    huge = json.dumps({"type": "hello", "token": "x" * (15 * 1024 * 1024), "protocol": 1})

    async def one() -> int | None:
        async with websockets.connect(url, max_size=None) as ws:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(huge)
                await asyncio.wait_for(ws.recv(), 30)
            await asyncio.wait_for(ws.wait_closed(), 30)
            return ws.close_code

    codes = await asyncio.gather(*(one() for _ in range(20)))
    assert set(codes) == {1009}, codes  # "message too big", at the frame's header
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_user_text_right_after_hello_is_answered(live_server: ServerFactory) -> None:
    server = live_server()
    tenant = await server.tenant("acme")
    plan = await store_plan(server.base_url, tenant.key)
    conversation_id, token = await start_conversation(server.base_url, tenant.key, {"plan": plan})
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.send({"type": "user_text", "text": "Hello, I am here for the interview."})
    ready = await client.wait_for("ready", timeout=30)
    assert client.received[0].message == ready, "ready is the first message"
    users = await client.wait_for("transcript", timeout=60)
    assert users["entry"]["role"] in ("user", "agent")
    await client.wait_for("turn_end", reason="completed", timeout=60)
    said = [
        m["entry"]["text"] for m in client.messages("transcript") if m["entry"]["role"] == "user"
    ]
    assert said == ["Hello, I am here for the interview."]
    await client.close()
