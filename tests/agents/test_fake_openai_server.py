"""The fake OpenAI-compatible server speaks the contract other tests rely on."""

from __future__ import annotations

import httpx
import openai

from tests.fakes.openai_compatible import FakeOpenAI


async def test_knobs_over_http_and_recorded_requests(
    fake_openai: FakeOpenAI, fake_openai_url: str
) -> None:
    root = fake_openai_url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=root, timeout=5) as http:
        response = await http.post("/_fake/config", json={"replies": ["Scripted."]})
        assert response.status_code == 200
        assert fake_openai.config.replies == ["Scripted."]
        refused = await http.post("/_fake/config", json={"token_delay_s": -1})
        assert refused.status_code == 422
        models = (await http.get("/v1/models")).json()
        assert models["data"][0]["id"] == "fake-model"
        requests = (await http.get("/_fake/requests")).json()
        assert [r["path"] for r in requests] == ["/v1/models"]
        await http.post("/_fake/reset")
        assert fake_openai.requests == []


async def test_non_streaming_completion_through_the_sdk(
    fake_openai: FakeOpenAI, fake_openai_url: str
) -> None:
    fake_openai.configure(replies=["A whole answer."])
    async with openai.AsyncOpenAI(api_key="k", base_url=fake_openai_url, max_retries=0) as client:
        completion = await client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "Hi"}]
        )
        assert completion.choices[0].message.content == "A whole answer."
        assert completion.choices[0].finish_reason == "stop"
        stream = await client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
