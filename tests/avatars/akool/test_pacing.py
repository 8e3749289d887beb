"""Akool's data stream over a simulated ten-minute conversation: never over its limits.

The provider's pacer and the fake's checks share one simulated clock, so ten minutes of
bursty speech (long answers, non-ASCII text, quotes that JSON must escape) run in seconds.
"""

from __future__ import annotations

import json
import random

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.akool import serve_akool
from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.messages import chat_messages
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider, split_chat_text
from visavis.avatars.base import SessionRequest
from visavis.testing.clock import ManualClock

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "señor",
    "Müller",
    "naïvely",
    "asks",
    "«pourquoi?»",
    "and",
    "東京",
    "answers",
    '"yes"',
    "—",
    "emoji",
    "🎉",
    "and",
    "back\\slashes",
    "too,",
    "plus",
    "tabs\tand",
    "newlines\n",
]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 260))).strip() or "ok"


async def test_ten_minutes_of_speech_stay_within_agora_limits() -> None:
    clock = ManualClock(auto_advance=True)
    rng = random.Random(7)
    with serve_akool(clock=clock.now, polls_to_ready=1) as fake:
        provider = AkoolProvider(
            AkoolAPI(base_url=fake.base_url, api_key="test-akool-key"),
            AkoolOptions(duration_s=3600, poll_interval_s=0.0),
            clock=clock,
        )
        session = await provider.create_session(SessionRequest(avatar_id="a1"))
        await provider.start(session)
        sent: list[str] = []
        async with httpx.AsyncClient(base_url=fake.base_url) as http:

            async def sink(data: str) -> None:
                assert len(data.encode("utf-8")) <= 950
                response = await http.post(f"/_fake/datastream/{session.session_id}", content=data)
                assert response.status_code == 200, response.text

            while clock.now() < 600:
                for _ in range(rng.randint(1, 6)):  # a burst of sentences from one reply
                    text = sentence(rng)
                    sent.append(text)
                    await provider.speak(session, text, sink=sink)
                if rng.random() < 0.2:
                    await provider.interrupt(session, sink=sink)
                await clock.advance(rng.uniform(0.5, 8.0))  # the avatar speaks, the user answers
        stream = fake.fake.datastream(session.session_id)
        assert fake.fake.all_violations() == []
        assert stream["peak_window_bytes"] <= 6000
        sizes = [
            len(json.dumps(m["message"], ensure_ascii=False, separators=(",", ":")).encode())
            for m in stream["messages"]
        ]
        assert max(sizes) <= 950
        assert list(stream["chat_texts"].values()) == sent
        await provider.stop(session.session_id)
        await provider.aclose()


@given(st.text(max_size=3000))
@settings(max_examples=200, deadline=None)
def test_chat_chunks_rejoin_exactly_and_fit(text: str) -> None:
    mid = "msg-0123456789abcdef"
    chunks = split_chat_text(text, mid)
    assert "".join(chunks) == text
    for data in chat_messages(mid, chunks):
        assert len(data) <= 950
