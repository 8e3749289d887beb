"""``/v1/twins`` and twin memory over REST, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TenantCredentials, TenantFactory
from tests.fakes.openai_compatible import FakeOpenAI

PROBLEM = "application/problem+json"
FACTS = "\n".join(
    json.dumps(line)
    for line in [
        {"type": "fact", "statement": "I live in Porto.", "subject": "home city"},
        {"type": "fact", "statement": "I live in Lisbon.", "subject": "home city"},
        {"type": "fact", "statement": "My cat is called Pastel.", "subject": "pet"},
        {"type": "fact", "statement": "I play the bass guitar in a jazz band.", "subject": "music"},
    ]
)
STORIES = """\
# The night train
When: 2014-07
Tags: travel, trains

We missed the last train out of Porto and walked along the river until dawn.

## The robot that stopped
Our pharmacy robot froze in a corridor. A nurse pushed the red button and walked around it.
"""


@pytest.fixture(scope="module")
def fake_openai_server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with fake.serve() as base_url:
        yield fake, base_url


async def _twin(client: httpx.AsyncClient, tenant: TenantCredentials, **body: Any) -> str:
    made = await client.post("/v1/twins", json={"name": "Maya"} | body, headers=tenant.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _import(
    client: httpx.AsyncClient, tenant: TenantCredentials, twin: str, content: str, kind: str
) -> httpx.Response:
    return await client.post(
        f"/v1/twins/{twin}/memory/import",
        content=content.encode(),
        headers=tenant.headers | {"content-type": kind},
    )


async def test_twins_crud_and_another_tenants_twin_is_404(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme, other = await make_tenant("acme"), await make_tenant("other")
    body = {
        "name": "Maya",
        "persona": {"bio": "Designer of hospital robots.", "speaking_style": "warm, brief"},
        "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-secret-1"},
        "avatar": {"provider": "local"},
    }
    made = await client.post("/v1/twins", json=body, headers=acme.headers)
    assert made.status_code == 201
    twin = made.json()
    assert twin["llm"] == {
        "base_url": "http://127.0.0.1:9/v1",
        "model": "m",
        "temperature": None,
        "max_tokens": None,
        "has_api_key": True,
    }
    assert "sk-secret-1" not in made.text and twin["mode"] == "llm" and twin["voice"] == "bundled"
    url = f"/v1/twins/{twin['id']}"
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, url, json={} if method == "PATCH" else None, headers=other.headers
        )
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/twins", headers=other.headers)).json() == {"items": []}
    patched = await client.patch(
        url, json={"llm": None, "persona": {"bio": "New bio."}}, headers=acme.headers
    )
    assert patched.json()["mode"] == "offline" and patched.json()["persona"]["bio"] == "New bio."
    assert patched.json()["name"] == "Maya"
    listed = await client.get("/v1/twins", headers=acme.headers)
    assert [t["id"] for t in listed.json()["items"]] == [twin["id"]]
    assert (await client.delete(url, headers=acme.headers)).status_code == 204
    assert (await client.get(url, headers=acme.headers)).status_code == 404


async def test_bad_twin_bodies_are_refused_with_what_to_fix(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    cases = [
        ({"name": ""}, "name"),
        ({"name": "M", "llm": {"base_url": "ftp://example.org/v1", "model": "m"}}, "http"),
        ({"name": "M", "voice": "someone-else"}, "voice"),
        ({"name": "M", "voice": "3090feA80955-E8-6B6F50D2cD1aEC50ED-5"}, "voice"),
        ({"name": "M", "persona": {"mood": "x"}}, "mood"),
        ({"name": "M", "vocabulary": ["x" * 61]}, "vocabulary"),
    ]
    for body, hint in cases:
        response = await client.post("/v1/twins", json=body, headers=acme.headers)
        assert response.status_code == 422 and hint in response.json()["detail"], body
    assert (await client.get("/v1/twins", headers=acme.headers)).json() == {"items": []}


async def test_conversations_talk_to_a_twin_of_their_own_tenant(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme, other = await make_tenant("acme"), await make_tenant("other")
    twin = await _twin(client, acme, avatar={"provider": "local"})
    made = await client.post(
        "/v1/conversations", json={"agent": "twin", "twin": twin}, headers=acme.headers
    )
    assert made.status_code == 201, made.text
    assert made.json()["twin"] == twin and made.json()["agent"] == "twin"
    assert made.json()["avatar"]["provider"] == "local"  # the twin's avatar choice
    foreign = await client.post(
        "/v1/conversations", json={"agent": "twin", "twin": twin}, headers=other.headers
    )
    assert foreign.status_code == 404 and twin not in foreign.text
    missing = await client.post("/v1/conversations", json={"agent": "twin"}, headers=acme.headers)
    assert missing.status_code == 422 and "POST /v1/twins" in missing.json()["detail"]
    wrong = await client.post(
        "/v1/conversations", json={"agent": "interviewer", "twin": twin}, headers=acme.headers
    )
    assert wrong.status_code == 422 and '"agent": "twin"' in wrong.json()["detail"]
    listed = await client.get("/v1/conversations", headers=other.headers)
    assert listed.json()["items"] == []


async def test_a_twins_vocabulary_joins_its_conversations(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    twin = await _twin(client, acme, vocabulary=["Zalando", "Porto"])
    shown = await client.get(f"/v1/twins/{twin}", headers=acme.headers)
    assert shown.json()["vocabulary"] == ["Zalando", "Porto"]
    made = await client.post(
        "/v1/conversations",
        json={"agent": "twin", "twin": twin, "vocabulary": ["Siobhan Nakamura", "Porto"]},
        headers=acme.headers,
    )
    assert made.json()["vocabulary"] == ["Siobhan Nakamura", "Porto", "Zalando"]
    changed = await client.patch(
        f"/v1/twins/{twin}", json={"vocabulary": ["Klarna"]}, headers=acme.headers
    )
    assert changed.status_code == 200 and changed.json()["vocabulary"] == ["Klarna"]
    again = await client.post(
        "/v1/conversations", json={"agent": "twin", "twin": twin}, headers=acme.headers
    )
    assert again.json()["vocabulary"] == ["Klarna"]
    cleared = await client.patch(
        f"/v1/twins/{twin}", json={"vocabulary": None}, headers=acme.headers
    )
    assert cleared.json()["vocabulary"] == []


async def test_facts_and_stories_crud_with_superseding(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme, other = await make_tenant("acme"), await make_tenant("other")
    twin = await _twin(client, acme)
    base = f"/v1/twins/{twin}"
    porto = await client.post(
        f"{base}/facts",
        json={"statement": "I live in Porto.", "subject": "home city"},
        headers=acme.headers,
    )
    assert porto.status_code == 201 and porto.json()["superseded"] == 0
    lisbon = await client.post(
        f"{base}/facts",
        json={"statement": "I live in Lisbon.", "subject": "home city"},
        headers=acme.headers,
    )
    assert lisbon.json()["superseded"] == 1
    again = await client.post(
        f"{base}/facts", json={"statement": "I live in Lisbon."}, headers=acme.headers
    )
    assert again.status_code == 409
    old = await client.get(f"{base}/facts/{porto.json()['id']}", headers=acme.headers)
    assert old.json()["valid"] is False and old.json()["superseded_by"] == lisbon.json()["id"]
    valid = await client.get(f"{base}/facts?validity=valid", headers=acme.headers)
    assert [f["statement"] for f in valid.json()["items"]] == ["I live in Lisbon."]
    past = await client.get(f"{base}/facts?validity=past", headers=acme.headers)
    assert [f["statement"] for f in past.json()["items"]] == ["I live in Porto."]
    story = await client.post(
        f"{base}/stories",
        json={"title": "The night train", "text": "We walked until dawn.", "when": "2014-07"},
        headers=acme.headers,
    )
    assert story.status_code == 201 and story.json()["when"].startswith("2014-07-01")
    story_url = f"{base}/stories/{story.json()['id']}"
    patched = await client.patch(story_url, json={"tags": ["travel"]}, headers=acme.headers)
    assert patched.json()["tags"] == ["travel"] and patched.json()["title"] == "The night train"
    assert (await client.get(story_url, headers=other.headers)).status_code == 404
    assert (await client.delete(story_url, headers=other.headers)).status_code == 404
    assert (await client.delete(story_url, headers=acme.headers)).status_code == 204
    assert (await client.get(f"{base}/stories", headers=acme.headers)).json() == {"items": []}
    fact_as_story = await client.get(f"{base}/stories/{lisbon.json()['id']}", headers=acme.headers)
    assert fact_as_story.status_code == 404


async def test_import_is_all_or_nothing_and_export_round_trips(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    twin = await _twin(client, acme)
    broken = FACTS + '\n{"type": "fact"}\nnot json at all\n'
    refused = await _import(client, acme, twin, broken, "application/x-ndjson")
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert [e["line"] for e in refused.json()["errors"]] == [5, 6]
    assert "nothing was imported" in refused.json()["detail"]
    facts = await client.get(f"/v1/twins/{twin}/facts", headers=acme.headers)
    assert facts.json() == {"items": []}
    bad_story = await _import(client, acme, twin, "preface\n# Title\n", "text/markdown")
    assert bad_story.status_code == 422 and len(bad_story.json()["errors"]) == 2
    not_text = await _import(client, acme, twin, "", "application/x-ndjson")
    assert not_text.status_code == 200 and not_text.json()["facts"] == 0
    binary = await client.post(
        f"/v1/twins/{twin}/memory/import?format=jsonl",
        content=b"\xff\xfe\x00garbage",
        headers=acme.headers,
    )
    assert binary.status_code == 422 and "UTF-8" in binary.json()["detail"]
    unknown = await client.post(
        f"/v1/twins/{twin}/memory/import", content=b"x", headers=acme.headers
    )
    assert unknown.status_code == 415 and "format=" in unknown.json()["detail"]

    imported = await _import(client, acme, twin, FACTS, "application/x-ndjson")
    assert imported.json() == {"facts": 4, "stories": 0, "duplicates": 0, "superseded": 1}
    stories = await _import(client, acme, twin, STORIES, "text/markdown")
    assert stories.json()["stories"] == 2
    again = await _import(client, acme, twin, FACTS, "application/x-ndjson")
    assert again.json() == {"facts": 0, "stories": 0, "duplicates": 4, "superseded": 0}

    export = await client.get(f"/v1/twins/{twin}/memory/export", headers=acme.headers)
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert len(lines) == 6 and {line["type"] for line in lines} == {"fact", "story"}
    copy = await _twin(client, acme, name="Copy")
    copied = await _import(client, acme, copy, export.text, "application/x-ndjson")
    assert copied.status_code == 200, copied.text
    copied_export = await client.get(f"/v1/twins/{copy}/memory/export", headers=acme.headers)
    assert [json.loads(x) for x in copied_export.text.splitlines()] == lines


async def test_offline_twin_answers_from_memory_and_says_when_it_does_not_know(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    acme = await make_tenant("acme")
    twin = await _twin(client, acme)
    await _import(client, acme, twin, FACTS, "application/x-ndjson")
    await _import(client, acme, twin, STORIES, "text/markdown")
    conversation = await client.post(
        "/v1/conversations", json={"agent": "twin", "twin": twin}, headers=acme.headers
    )
    conversation_id = conversation.json()["id"]
    asked = await client.post(
        f"/v1/twins/{twin}/ask",
        json={"question": "What's the name of your cat?", "conversation_id": conversation_id},
        headers=acme.headers,
    )
    answer = asked.json()
    assert asked.status_code == 200, asked.text
    assert answer["mode"] == "offline" and answer["dont_know"] is False
    assert "My cat is called Pastel." in answer["answer"]
    assert [u["text"] for u in answer["used"]] == ["My cat is called Pastel."]
    city = await client.post(
        f"/v1/twins/{twin}/ask", json={"question": "Where do you live?"}, headers=acme.headers
    )
    assert "Lisbon" in city.json()["answer"] and "Porto" not in city.json()["answer"]
    unknown = await client.post(
        f"/v1/twins/{twin}/ask",
        json={"question": "What is your sister's favourite colour?"},
        headers=acme.headers,
    )
    assert unknown.json()["dont_know"] is True and unknown.json()["used"] == []
    assert "don't know" in unknown.json()["answer"]
    history = await client.get(f"/v1/twins/{twin}/queries", headers=acme.headers)
    items = history.json()["items"]
    assert [i["question"] for i in items][::-1] == [
        "What's the name of your cat?",
        "Where do you live?",
        "What is your sister's favourite colour?",
    ]
    first = items[-1]
    assert first["conversation_id"] == conversation_id and first["used"] == [
        answer["used"][0]["id"]
    ]
    assert first["answer"] == answer["answer"] and len(first["retrieved"]) >= 1
    in_conversation = await client.get(
        f"/v1/twins/{twin}/queries?conversation_id={conversation_id}", headers=acme.headers
    )
    assert len(in_conversation.json()["items"]) == 1
    search = await client.get(
        f"/v1/twins/{twin}/memory/search", params={"q": "robot froze"}, headers=acme.headers
    )
    assert search.json()["items"][0]["title"] == "The robot that stopped"


async def test_twin_with_an_llm_writes_its_answer_from_the_retrieved_memory_only(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    fake_openai_server: tuple[FakeOpenAI, str],
) -> None:
    fake, base_url = fake_openai_server
    fake.reset()
    fake.configure(replies=["Pastel is my cat, named after the tarts."], required_api_key="sk-twin")
    acme = await make_tenant("acme")
    twin = await _twin(
        client,
        acme,
        persona={"bio": "A designer.", "speaking_style": "dry humour"},
        llm={"base_url": base_url, "model": "fake-model", "api_key": "sk-twin"},
    )
    await _import(client, acme, twin, FACTS, "application/x-ndjson")
    asked = await client.post(
        f"/v1/twins/{twin}/ask", json={"question": "Tell me about your cat"}, headers=acme.headers
    )
    answer = asked.json()
    assert asked.status_code == 200, asked.text
    assert (
        answer["mode"] == "llm" and answer["answer"] == "Pastel is my cat, named after the tarts."
    )
    request = fake.requests[-1]["json"]
    system = request["messages"][0]
    assert system["role"] == "system" and "You are Maya" in system["content"]
    assert "My cat is called Pastel." in system["content"] and "dry humour" in system["content"]
    assert "I live in Lisbon." not in system["content"]  # only what the question retrieved
    assert request["messages"][-1] == {"role": "user", "content": "Tell me about your cat"}
    assert "My cat is called Pastel." in [u["text"] for u in answer["used"]]
    calls = len(fake.requests)
    unknown = await client.post(
        f"/v1/twins/{twin}/ask", json={"question": "What's your blood type?"}, headers=acme.headers
    )
    assert unknown.json()["dont_know"] is True and len(fake.requests) == calls  # no LLM call
    fake.configure(fail_status=500)
    failed = await client.post(
        f"/v1/twins/{twin}/ask", json={"question": "Tell me about your cat"}, headers=acme.headers
    )
    assert failed.status_code == 502 and failed.headers["content-type"] == PROBLEM
    assert "LLM" in failed.json()["detail"]
    fake.reset()
