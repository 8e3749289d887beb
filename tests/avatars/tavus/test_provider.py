"""Tavus against its fake: echo-mode conversations, the relayed echo, ending once, listing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.avatars.relay import BrowserRelay
from tests.fakes.tavus import ECHO_PAL, TavusServer
from visavis.avatars.base import SessionRequest
from visavis.avatars.errors import ProviderAuthError, ProviderNotFound
from visavis.avatars.tavus.api import TavusAPI
from visavis.avatars.tavus.provider import TavusOptions, TavusProvider

KEY = "test-tavus-key"


def build(server: TavusServer, pal_id: str = ECHO_PAL) -> TavusProvider:
    return TavusProvider(
        TavusAPI(api_key=KEY, base_url=server.base_url, timeout_s=2),
        TavusOptions(pal_id=pal_id, max_call_duration_s=600, price_per_minute_usd=0.3),
    )


@pytest.fixture
async def provider(tavus: TavusServer) -> AsyncIterator[TavusProvider]:
    built = build(tavus)
    yield built
    await built.aclose()


def relay(server: TavusServer, conversation_id: str) -> BrowserRelay:
    return BrowserRelay(f"{server.base_url}/_fake/appmessage/{conversation_id}")


async def test_an_echo_conversation_says_our_sentences_verbatim(
    tavus: TavusServer, provider: TavusProvider
) -> None:
    session = await provider.create_session(SessionRequest(avatar_id="r79e1c033f", language="en"))
    await provider.start(session)
    assert session.media == {
        "kind": "daily",
        "url": f"https://tavus.daily.co/{session.session_id}",
    }
    sink = relay(tavus, session.session_id)
    for sentence in ("One.", "Two, said verbatim.", "Three!"):
        await provider.speak(session, sentence, sink=sink)
    await provider.interrupt(session, sink=sink)
    (held,) = tavus.fake.open_sessions()
    assert held["echoes"] == ["One.", "Two, said verbatim.", "Three!"]
    assert held["interrupts"] == 1 and held["violations"] == []
    assert held["request"]["pal_id"] == ECHO_PAL
    assert held["request"]["properties"]["max_call_duration"] == 600
    assert json.loads(sink.sent[-1])["event_type"] == "conversation.interrupt"


async def test_a_pal_that_is_not_echo_mode_would_answer_with_its_llm(tavus: TavusServer) -> None:
    async with httpx.AsyncClient(base_url=tavus.base_url, headers={"x-api-key": KEY}) as http:
        pal = (await http.post("/v2/pals", json={"pal_name": "chatty"})).json()["pal_id"]
    provider = build(tavus, pal)
    try:
        session = await provider.create_session(SessionRequest(avatar_id=None))
        await provider.speak(session, "Hello.", sink=relay(tavus, session.session_id))
        assert tavus.fake.open_sessions()[0]["violations"] == [{"kind": "not_echo_mode"}]
    finally:
        await provider.aclose()


async def test_ending_is_idempotent_and_listing_finds_only_live_conversations(
    tavus: TavusServer, provider: TavusProvider
) -> None:
    first = await provider.create_session(SessionRequest(avatar_id=None))
    second = await provider.create_session(SessionRequest(avatar_id=None))
    listed = await provider.list_active()
    assert sorted(a.session_id for a in listed) == sorted([first.session_id, second.session_id])
    assert all(a.created_at is not None for a in listed)
    assert await provider.stop(first.session_id) is True
    assert await provider.stop(first.session_id) is False
    assert await provider.stop("c000000000000") is False
    assert [a.session_id for a in await provider.list_active()] == [second.session_id]
    tavus.configure(advance_clock_s=601)
    assert await provider.list_active() == []


async def test_faces_come_from_the_new_path_or_the_old_one(
    tavus: TavusServer, provider: TavusProvider
) -> None:
    faces = await provider.list_avatars()
    assert [(f.avatar_id, f.name) for f in faces] == [("r79e1c033f", "Anna"), ("rb17cf590e", "Ben")]
    tavus.configure(faces_renamed=False)
    assert [f.avatar_id for f in await provider.list_avatars()] == ["r79e1c033f", "rb17cf590e"]


async def test_refusals_are_typed(tavus: TavusServer) -> None:
    wrong = TavusAPI(api_key="wrong", base_url=tavus.base_url)
    try:
        with pytest.raises(ProviderAuthError):
            await wrong.list_active()
    finally:
        await wrong.aclose()
    unknown = build(tavus, "p-missing")
    try:
        with pytest.raises(ProviderNotFound):
            await unknown.create_session(SessionRequest(avatar_id=None))
    finally:
        await unknown.aclose()


def test_billing_counts_started_minutes(provider: TavusProvider) -> None:
    assert provider.billing.cost_microusd(streamed_s=61) == 600_000
