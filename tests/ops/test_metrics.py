"""Prometheus metrics: names by the conventions, protected, and moved by what happens."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conversation.live_client import LiveClient, start_conversation
from tests.fakes.liveavatar import DEFAULT_AVATARS, serve_liveavatar
from tests.live_server import RunningServer, ServerFactory
from visavis import __version__
from visavis.ops.metrics import Metrics, label

ADMIN_KEY = "test-admin-key-0123456789-abcdefghijklmnop"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """Family name → type, and every sample by name and labels."""
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_label_values_are_names_never_ids() -> None:
    assert label("heygen") == "heygen"
    assert label("/v1/streaming.new") == "/v1/streaming.new"
    assert label(4408) == "4408"
    assert label(None) == "none"
    assert label(str(uuid.uuid4())) == "other"
    assert label("session-1234567890") == "other"
    assert label("a" * 80) == "other"
    assert label("with space") == "other"


def test_every_recording_method_moves_its_series() -> None:
    metrics = Metrics(version="9.9.9", database="sqlite+aiosqlite")
    metrics.watch_conversations(lambda: 3)
    metrics.conversation_started(agent="interviewer")
    metrics.conversation_ended(reason="completed")
    metrics.turn_first_text_after(0.12, agent="interviewer")
    metrics.turn_first_audio_after(0.4, agent="interviewer")
    metrics.voice_turn_after(0.9, agent="interviewer")
    metrics.audio_underrun()
    metrics.synthesized(engine="piper", audio_s=2.0, compute_s=0.5)
    metrics.recognized(engine="whisper", audio_s=3.0, compute_s=1.0)
    metrics.avatar_start(provider="heygen", outcome="started", seconds=1.5)
    metrics.avatar_start(provider="heygen", outcome="failed")
    metrics.avatar_fallback(provider="heygen", reason="provider_error")
    metrics.avatar_renewal(provider="akool", outcome="renewed")
    metrics.avatar_cost_incurred(provider="heygen", microusd=100_000)
    metrics.provider_call(provider="heygen", endpoint="/v1/streaming.new", status="200", seconds=1)
    metrics.sweeper_stop(provider="heygen", reason="client_gone")
    metrics.quota_refused(kind="monthly_avatar_session_limit")
    metrics.websocket_opened()
    metrics.websocket_opened()
    metrics.websocket_closed(code=4408)
    metrics.event_recorded(type="conversation_started")
    metrics.webhook_attempt(outcome="delivered", delay_s=0.2)
    metrics.owner_change_heard(kind="end", path="pubsub")
    types, s = parse(metrics.scrape().decode())

    assert value(s, "visavis_build_info", version="9.9.9", python=_python(s), database="sqlite")
    assert value(s, "visavis_conversations_active") == 3
    assert value(s, "visavis_conversations_started_total", agent="interviewer") == 1
    assert value(s, "visavis_conversations_ended_total", reason="completed") == 1
    assert value(s, "visavis_turn_first_text_seconds_count", agent="interviewer") == 1
    assert value(s, "visavis_turn_first_audio_seconds_bucket", agent="interviewer", le="0.5") == 1
    assert value(s, "visavis_turn_first_audio_seconds_bucket", agent="interviewer", le="0.3") == 0
    assert value(s, "visavis_voice_turn_seconds_sum", agent="interviewer") == pytest.approx(0.9)
    assert value(s, "visavis_audio_underruns_total") == 1
    assert value(s, "visavis_tts_audio_seconds_total", engine="piper") == 2.0
    assert value(s, "visavis_tts_compute_seconds_total", engine="piper") == 0.5
    assert value(s, "visavis_stt_audio_seconds_total", engine="whisper") == 3.0
    assert value(s, "visavis_avatar_starts_total", provider="heygen", outcome="started") == 1
    assert value(s, "visavis_avatar_starts_total", provider="heygen", outcome="failed") == 1
    assert value(s, "visavis_avatar_start_seconds_count", provider="heygen") == 1
    fallback = {"provider": "heygen", "reason": "provider_error"}
    assert value(s, "visavis_avatar_fallbacks_total", **fallback) == 1
    assert value(s, "visavis_avatar_renewals_total", provider="akool", outcome="renewed") == 1
    assert value(s, "visavis_avatar_cost_microusd_total", provider="heygen") == 100_000
    call = {"provider": "heygen", "endpoint": "/v1/streaming.new"}
    assert value(s, "visavis_provider_requests_total", status="200", **call) == 1
    assert value(s, "visavis_provider_request_duration_seconds_count", **call) == 1
    assert value(s, "visavis_sweeper_stops_total", provider="heygen", reason="client_gone") == 1
    assert value(s, "visavis_quota_refusals_total", kind="monthly_avatar_session_limit") == 1
    assert value(s, "visavis_websocket_connections_active") == 1
    assert value(s, "visavis_websocket_connections_total") == 2
    assert value(s, "visavis_websocket_disconnects_total", code="4408") == 1
    assert value(s, "visavis_events_recorded_total", type="conversation_started") == 1
    assert value(s, "visavis_webhook_deliveries_total", outcome="delivered") == 1
    assert value(s, "visavis_webhook_delivery_delay_seconds_count") == 1
    assert value(s, "visavis_owner_changes_heard_total", kind="end", path="pubsub") == 1
    for name, kind in types.items():
        assert name.startswith("visavis_"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), f"{name}: histograms here are durations"


def _python(samples: Samples) -> str:
    for name, labels in samples:
        if name == "visavis_build_info":
            return dict(labels)["python"]
    raise AssertionError("no build info")


async def test_metrics_are_hidden_without_an_admin_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 404


@pytest.fixture
def liveavatar() -> Iterator[Any]:
    with serve_liveavatar() as fake:
        yield fake


async def _scrape(server: RunningServer) -> Samples:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.get("/metrics", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)[1]


async def _until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("the metric did not move in time")
        await asyncio.sleep(0.1)


async def test_a_conversation_moves_the_metrics(
    live_server: ServerFactory, liveavatar: Any
) -> None:
    server = live_server(
        admin_api_key=ADMIN_KEY,
        liveavatar_base_url=liveavatar.base_url,
        liveavatar_api_key="test-liveavatar-key",
        client_heartbeat_timeout_s=0.5,
        sweeper_interval_s=0.2,
        rate_limit_key_per_s=0.01,
        rate_limit_key_burst=4,
    )
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer not-the-admin-key"}
        assert (await http.get("/metrics", headers=wrong)).status_code == 401
    before = await _scrape(server)
    assert (
        value(
            before,
            "visavis_build_info",
            version=__version__,
            python=_python(before),
            database="sqlite" if server.ctx.settings.is_sqlite else "postgresql",
        )
        == 1
    )
    assert ("visavis_conversations_active", frozenset()) in before

    tenant = await server.tenant("metrics")
    # Its client never connects: the sweeper stops the provider session as an orphan.
    avatar = {"provider": "liveavatar", "avatar_id": DEFAULT_AVATARS[0][0]}
    await start_conversation(server.base_url, tenant.key, {"avatar": avatar})

    async def provider_called_and_swept() -> bool:
        s = await _scrape(server)
        call = {"provider": "liveavatar", "endpoint": "/v1/sessions/token", "status": "200"}
        return (
            value(s, "visavis_provider_requests_total", **call) >= 1
            and value(s, "visavis_sweeper_stops_total", provider="liveavatar", reason="client_gone")
            == 1
        )

    await _until(provider_called_and_swept)
    after = await _scrape(server)
    call = {"provider": "liveavatar", "endpoint": "/v1/sessions/token"}
    assert value(after, "visavis_provider_request_duration_seconds_count", **call) >= 1
    engine = server.ctx.tts.name

    async def voice_warmed_up() -> bool:
        # The warm-up synthesis runs in the background from startup; the sweep may come first.
        return value(await _scrape(server), "visavis_tts_audio_seconds_total", engine=engine) > 0

    await _until(voice_warmed_up, timeout=60.0)

    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        statuses = [
            (await http.get("/v1/tenant/usage", headers=tenant.headers)).status_code
            for _ in range(4)
        ]
    assert 429 in statuses
    refused = await _scrape(server)
    assert value(refused, "visavis_quota_refusals_total", kind="rate_limit_key") == statuses.count(
        429
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_metrics_on_a_port_of_their_own(live_server: ServerFactory) -> None:
    port = _free_port()
    server = live_server(metrics_port=port, admin_api_key=ADMIN_KEY)
    async with httpx.AsyncClient(timeout=10) as http:
        own = await http.get(f"http://127.0.0.1:{port}/metrics")
        main = await http.get(f"{server.base_url}/metrics", headers=ADMIN)
    assert own.status_code == 200
    assert "visavis_build_info" in own.text
    assert main.status_code == 404
    assert str(port) in main.json()["detail"]


async def test_a_live_conversation_moves_the_conversation_metrics(
    live_server: ServerFactory,
) -> None:
    server = live_server(admin_api_key=ADMIN_KEY)
    tenant = await server.tenant("live-metrics")
    conversation_id, token = await start_conversation(server.base_url, tenant.key, None)
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("turn_end", turn_id=1, timeout=60)
    await client.send({"type": "end"})
    assert await client.wait_closed(timeout=30) == 1000
    s = await _scrape(server)
    assert value(s, "visavis_conversations_started_total", agent="interviewer") == 1
    assert value(s, "visavis_conversations_ended_total", reason="ended_by_client") == 1
    assert value(s, "visavis_turn_first_audio_seconds_count", agent="interviewer") == 1
    assert value(s, "visavis_turn_first_text_seconds_count", agent="interviewer") == 1
    assert value(s, "visavis_websocket_connections_total") == 1
    assert value(s, "visavis_websocket_disconnects_total", code="1000") == 1
    headers = {"Authorization": f"Bearer {tenant.key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        page = (await http.get("/v1/events", params={"limit": 50})).json()
    kinds = [e["type"] for e in page["items"]]
    assert {"conversation_started", "turn_completed", "conversation_ended"} <= set(kinds)


@pytest.mark.slow
async def test_a_transcription_moves_the_recognition_metrics(live_server: ServerFactory) -> None:
    server = live_server(admin_api_key=ADMIN_KEY)
    tenant = await server.tenant("recognition")
    # Whisper's decodes are counted by model: files are heard by base.
    engine = "faster-whisper:base"
    before = await _scrape(server)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=tenant.headers, timeout=60
    ) as http:
        speech = await http.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "input": "Hello there.", "response_format": "wav"},
        )
        assert speech.status_code == 200, speech.text
        seconds = (len(speech.content) - 44) / 2 / 24000
        heard = await http.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("hello.wav", speech.content, "audio/wav")},
        )
        assert heard.status_code == 200, heard.text
    after = await _scrape(server)
    audio = "visavis_stt_audio_seconds_total"
    compute = "visavis_stt_compute_seconds_total"
    assert value(before, audio, engine=engine) == 0
    assert value(after, audio, engine=engine) == pytest.approx(seconds, abs=0.05)
    assert value(after, compute, engine=engine) > 0
