"""A live twin conversation over the WebSocket: typed question → spoken, grounded answer.

The conversation session must give the registry its conversation
(``agents.create(conversation.agent, plan=plan, conversation=conversation)``) for the twin
agent to find its twin; until that wiring lands this test is an expected failure.
"""

from __future__ import annotations

import httpx

from tests.conversation.live_client import LiveClient, start_conversation
from tests.live_server import ServerFactory

FACTS = '{"statement": "My cat is called Pastel, after the custard tarts.", "subject": "pet"}\n'


async def test_a_typed_question_gets_a_spoken_answer_from_memory(
    live_server: ServerFactory,
) -> None:
    server = live_server()
    tenant = await server.tenant("acme")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        twin = (await http.post("/v1/twins", json={"name": "Maya"})).json()["id"]
        await http.post(
            f"/v1/twins/{twin}/memory/import",
            content=FACTS.encode(),
            headers={"content-type": "application/x-ndjson"},
        )
    conversation_id, token = await start_conversation(
        server.base_url, tenant.key, {"agent": "twin", "twin": twin}
    )
    client = LiveClient(server.base_url, conversation_id, token)
    await client.connect()
    await client.wait_for("state", state="listening")
    before = len(client.received)
    await client.send({"type": "user_text", "text": "What is your cat called?"})
    await client.wait_for("turn_end", after=before)
    spoken = " ".join(m["text"] for m in client.messages("sentence"))
    assert "Pastel" in spoken
    assert any(r.frame for r in client.received[before:])
    await client.close()
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
        asked = await http.get(f"/v1/twins/{twin}/queries?conversation_id={conversation_id}")
    assert [q["question"] for q in asked.json()["items"]] == ["What is your cat called?"]
