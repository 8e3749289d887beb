from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from tests.fakes.loopback import free_port
from tests.fakes.openai_compatible import FakeOpenAI
from visavis.agents import (
    AgentAuthError,
    AgentBadResponse,
    AgentRateLimited,
    AgentTimeout,
    AgentUnavailable,
    Message,
    OpenAICompatibleAgent,
    OpenAICompatibleOptions,
)

REPLY = "Sure. Your order ships tomorrow, and it costs $29.99 in total."
HISTORY = [Message("user", "When does my order ship?")]


@pytest.fixture
async def make_agent(fake_openai_url: str) -> AsyncIterator[object]:
    agents: list[OpenAICompatibleAgent] = []

    def make(**overrides: object) -> OpenAICompatibleAgent:
        values: dict[str, object] = {
            "base_url": fake_openai_url,
            "model": "fake-model",
            "api_key": "sk-test-secret-123",
            "first_token_timeout_s": 2.0,
            "stall_timeout_s": 2.0,
            "retry_backoff_s": 0.01,
        }
        values.update(overrides)
        agent = OpenAICompatibleAgent(OpenAICompatibleOptions(**values))  # type: ignore[arg-type]
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        await agent.aclose()


async def collect(agent: OpenAICompatibleAgent, messages: list[Message]) -> list[str]:
    return [delta async for delta in agent.stream(messages)]


async def test_streams_the_reply_in_deltas(fake_openai: FakeOpenAI, make_agent) -> None:
    fake_openai.configure(replies=[REPLY])
    deltas = await collect(make_agent(), HISTORY)
    assert "".join(deltas) == REPLY
    assert len(deltas) > 5
    assert all(deltas)


async def test_sends_model_prompt_history_and_key(fake_openai: FakeOpenAI, make_agent) -> None:
    agent = make_agent(system_prompt="You are terse.", temperature=0.2, max_tokens=64)
    history = [
        Message("user", "Hi"),
        Message("assistant", ""),  # interrupted before anything was spoken
        Message("user", "When does my order ship?"),
    ]
    await collect(agent, history)
    (request,) = fake_openai.requests
    body = request["json"]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-test-secret-123"
    assert body["model"] == "fake-model"
    assert body["stream"] is True
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 64
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": "When does my order ship?"},
    ]


async def test_local_server_without_key_gets_no_authorization(
    fake_openai: FakeOpenAI, make_agent
) -> None:
    await collect(make_agent(api_key=""), HISTORY)
    assert "authorization" not in fake_openai.requests[0]["headers"]


async def test_refused_key_is_an_auth_error_without_the_key(
    fake_openai: FakeOpenAI, make_agent
) -> None:
    fake_openai.configure(required_api_key="the-right-key")
    with pytest.raises(AgentAuthError) as caught:
        await collect(make_agent(), HISTORY)
    assert "401" in caught.value.message
    assert "sk-test-secret-123" not in str(caught.value)
    assert "sk-test-secret-123" not in repr(make_agent().options)
    assert len(fake_openai.requests) == 1  # never retried


async def test_long_retry_after_is_reported_not_waited(fake_openai: FakeOpenAI, make_agent) -> None:
    fake_openai.configure(fail_status=429, retry_after_s=30)
    started = time.monotonic()
    with pytest.raises(AgentRateLimited) as caught:
        await collect(make_agent(max_retries=2), HISTORY)
    assert time.monotonic() - started < 5
    assert caught.value.retry_after_s == 30
    assert len(fake_openai.requests) == 1


async def test_short_retry_after_is_waited_then_retried(
    fake_openai: FakeOpenAI, make_agent
) -> None:
    fake_openai.configure(fail_status=429, retry_after_s=0.05, fail_times=1, replies=[REPLY])
    assert "".join(await collect(make_agent(max_retries=1), HISTORY)) == REPLY
    assert len(fake_openai.requests) == 2


async def test_server_error_is_retried_then_reported(fake_openai: FakeOpenAI, make_agent) -> None:
    fake_openai.configure(fail_status=500, fail_times=1, replies=[REPLY])
    assert "".join(await collect(make_agent(max_retries=1), HISTORY)) == REPLY

    fake_openai.reset()
    fake_openai.configure(fail_status=503)
    with pytest.raises(AgentUnavailable, match="503"):
        await collect(make_agent(max_retries=2), HISTORY)
    assert len(fake_openai.requests) == 3


async def test_unreachable_server_is_unavailable(make_agent) -> None:
    agent = make_agent(base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    with pytest.raises(AgentUnavailable, match="cannot reach"):
        await collect(agent, HISTORY)


async def test_unknown_model_says_which(fake_openai: FakeOpenAI, make_agent) -> None:
    with pytest.raises(AgentBadResponse, match="no-such-model"):
        await collect(make_agent(model="no-such-model"), HISTORY)


async def test_no_first_token_times_out(fake_openai: FakeOpenAI, make_agent) -> None:
    fake_openai.configure(first_token_delay_s=60)
    started = time.monotonic()
    with pytest.raises(AgentTimeout, match="no reply within 0.3 s"):
        await collect(make_agent(first_token_timeout_s=0.3), HISTORY)
    assert time.monotonic() - started < 3
    assert len(fake_openai.requests) == 1  # a slow model is not asked twice


async def test_no_response_headers_times_out(fake_openai: FakeOpenAI, make_agent) -> None:
    fake_openai.configure(response_delay_s=60)
    with pytest.raises(AgentTimeout):
        await collect(make_agent(first_token_timeout_s=0.3), HISTORY)


async def test_stall_mid_stream_times_out_after_the_text_so_far(
    fake_openai: FakeOpenAI, make_agent
) -> None:
    fake_openai.configure(replies=[REPLY], stall_after_tokens=3)
    received: list[str] = []
    with pytest.raises(AgentTimeout, match="stopped sending"):
        async for delta in make_agent(stall_timeout_s=0.3).stream(HISTORY):
            received.append(delta)
    assert "".join(received) == "Sure. Your order"
    await wait_until(lambda: fake_openai.open_streams == 0)


@pytest.mark.parametrize("kind", ["not_json", "error_object", "wrong_shape"])
async def test_malformed_chunk_is_a_bad_response(
    fake_openai: FakeOpenAI, make_agent, kind: str
) -> None:
    fake_openai.configure(replies=[REPLY], malformed_after_tokens=2, malformed_kind=kind)
    received: list[str] = []
    with pytest.raises(AgentBadResponse):
        async for delta in make_agent().stream(HISTORY):
            received.append(delta)
    assert "".join(received) == "Sure. Your"


async def test_empty_reply_is_a_bad_response(fake_openai: FakeOpenAI, make_agent) -> None:
    fake_openai.configure(replies=[""])
    with pytest.raises(AgentBadResponse, match="empty reply"):
        await collect(make_agent(), HISTORY)


async def test_cancelling_the_consumer_closes_the_http_stream(
    fake_openai: FakeOpenAI, make_agent
) -> None:
    fake_openai.configure(replies=[REPLY * 20], token_delay_s=0.05)
    agent = make_agent()
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in agent.stream(HISTORY):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    assert fake_openai.open_streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: fake_openai.open_streams == 0)


async def test_cancelling_while_waiting_for_the_first_token_closes_the_request(
    fake_openai: FakeOpenAI, make_agent
) -> None:
    fake_openai.configure(first_token_delay_s=60)
    agent = make_agent(first_token_timeout_s=30)
    task = asyncio.create_task(collect(agent, HISTORY))
    await wait_until(lambda: fake_openai.open_streams == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: fake_openai.open_streams == 0)


async def test_aclose_on_the_stream_closes_the_http_stream(
    fake_openai: FakeOpenAI, make_agent
) -> None:
    fake_openai.configure(replies=[REPLY * 20], token_delay_s=0.05)
    agent = make_agent()
    async with aclosing(agent.stream(HISTORY)) as deltas:
        assert await anext(deltas)
    await wait_until(lambda: fake_openai.open_streams == 0)
    await agent.aclose()
    await agent.aclose()  # idempotent


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatibleOptions(base_url="127.0.0.1:11434", model="m")
    with pytest.raises(ValueError, match="stall_timeout_s"):
        OpenAICompatibleOptions(base_url="http://x/v1", model="m", stall_timeout_s=0)


async def wait_until(condition: object, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
