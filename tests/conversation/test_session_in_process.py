"""The live-session scenarios, run in process with the test kit: no server, no Piper.

Each test plays the client of one conversation on virtual time, so seconds of speech take
milliseconds, and checks what the client received and what was stored.
"""

from __future__ import annotations

import pytest

from visavis.agents.errors import AgentError
from visavis.speech.tts.bounded import BoundedVoice
from visavis.testing import ConversationKit, FakeTTS, ScriptedAgent, run_virtual

GREETING = (
    "Hi, I'm Sam and I will be your interviewer today. "
    "We will talk about your work for about ten minutes. What do you do?"
)
REPLY = "Thanks, that sounds interesting. Tell me about a hard problem you solved."


def interviewer(**kwargs: object) -> ScriptedAgent:
    return ScriptedAgent([GREETING, REPLY], greets_first=True, **kwargs)  # type: ignore[arg-type]


def test_greeting_streams_sentences_audio_and_visemes_on_one_clock() -> None:
    async def scenario() -> None:
        async with ConversationKit(agent=interviewer()) as client:
            ready = await client.wait_for("ready")
            assert ready["audio"] == {
                "format": "pcm_s16le",
                "channels": 1,
                "sample_rate": 24000,
                "header_bytes": 12,
            }
            assert ready["avatar"]["enabled"] is False
            await client.wait_for("turn_end", turn_id=1)
            await client.wait_for("state", state="listening")
            states = [m["state"] for m in client.messages("state")]
            assert states[:3] == ["thinking", "speaking", "listening"]
            sentences = client.messages("sentence")
            visemes = {m["utterance_id"]: m for m in client.messages("visemes")}
            ends = {m["utterance_id"]: m for m in client.messages("utterance_end")}
            assert " ".join(s["text"] for s in sentences) == GREETING
            for sentence in sentences:
                uid = sentence["utterance_id"]
                frames = [r.frame for r in client.frames() if r.frame.utterance_id == uid]  # type: ignore[union-attr]
                assert [f.seq for f in frames] == list(range(len(frames)))  # type: ignore[union-attr]
                samples = sum(len(f.pcm) for f in frames) // 2  # type: ignore[union-attr]
                assert abs(samples / 24000 * 1000 - visemes[uid]["duration_ms"]) <= 1
                assert ends[uid]["frames"] == len(frames)
                cues = visemes[uid]["cues"]
                assert cues[0]["t"] == 0
                assert {c["s"] for c in cues} - {"X"}, "a spoken sentence moves the mouth"
                assert visemes[uid]["method"] == "phones"
            first_frame = next(i for i, r in enumerate(client.received) if r.frame)
            before = [r.type for r in client.received[:first_frame]]
            assert "sentence" in before and "visemes" in before
            metrics = await client.wait_for("metrics", turn_id=1)
            assert metrics["first_audio_ms"] >= metrics["first_delta_ms"] > 0
            assert metrics["synthesis_rtf"] > 1

    run_virtual(scenario())


def test_user_turn_is_transcribed_timed_and_measured() -> None:
    async def scenario() -> None:
        async with ConversationKit(agent=interviewer()) as client:
            await client.wait_for("state", state="listening")
            mark = len(client.received)
            await client.send({"type": "user_text", "text": "I build data pipelines at scale."})
            await client.wait_for("turn_end", turn_id=2, after=mark)
            # Each line is shown once stored: the reply's may come just after its turn_end.
            roles = [entry["role"] for entry in await client.wait_lines(3)]
            assert roles == ["agent", "user", "agent"]
            items = await client.transcript()
            assert [(i.role, i.interrupted) for i in items] == [
                ("agent", False),
                ("user", False),
                ("agent", False),
            ]
            greeting, user, reply = items
            assert greeting.text == GREETING and reply.text == REPLY
            assert user.text == "I build data pipelines at scale."
            assert greeting.actual_start_ms is not None and greeting.duration_ms is not None
            assert greeting.duration_ms > 1000
            assert reply.actual_start_ms is not None and user.actual_start_ms is not None
            assert reply.actual_start_ms >= user.actual_start_ms
            assert reply.actual_start_ms >= greeting.actual_start_ms + greeting.duration_ms
            turns = await client.turns()
            assert [(t.seq, t.trigger, t.outcome) for t in turns] == [
                (1, "greeting", "completed"),
                (2, "user", "completed"),
            ]
            assert turns[1].first_audio_ms is not None and turns[1].sentences >= 2

    run_virtual(scenario())


def test_interrupt_keeps_what_the_client_reported_hearing() -> None:
    async def scenario() -> None:
        async with ConversationKit(agent=interviewer()) as client:
            await client.wait_for("state", state="speaking")
            first = await client.wait_for("sentence")
            await client.wait_for("utterance_end", utterance_id=first["utterance_id"])
            await client.send(
                {"type": "playback", "utterance_id": first["utterance_id"], "position_ms": 500}
            )
            interrupted_at = await client.send({"type": "interrupt"})
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["interrupted"] is True
            late = [r for r in client.frames() if r.at_ms > interrupted_at]
            assert late == [], "no frame after the interrupt"
            entry = (await client.wait_for("transcript"))["entry"]
            assert entry["interrupted"] is True
            words = first["text"].split()
            assert entry["text"].split() == words[: len(entry["text"].split())]
            assert 0 < len(entry["text"].split()) < len(words)
            assert entry["duration_ms"] == 500
            stored = await client.transcript()
            assert stored[0].text == entry["text"] and stored[0].interrupted

    run_virtual(scenario())


def test_user_text_while_speaking_barges_in() -> None:
    async def scenario() -> None:
        async with ConversationKit(agent=interviewer()) as client:
            await client.wait_for("state", state="speaking")
            mark = len(client.received)
            await client.send({"type": "user_text", "text": "Sorry, can you repeat that?"})
            assert (await client.wait_for("turn_end", turn_id=1))["interrupted"] is True
            await client.wait_for("turn_end", turn_id=2, after=mark, interrupted=False)
            users = await client.wait_lines(3)
            assert [e["role"] for e in users] == ["agent", "user", "agent"]
            assert users[1]["text"] == "Sorry, can you repeat that?"
            assert users[2]["text"] == REPLY

    run_virtual(scenario())


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1]", "invalid_message"),
        ('{"type": "dance"}', "unknown_message"),
        ('{"type": "user_text"}', "invalid_message"),
        ('{"type": "user_text", "text": "   "}', "invalid_message"),
        ('{"type": "user_text", "text": "' + "x" * 4001 + '"}', "text_too_long"),
        ('{"type": "user_text", "text": "a\\u0000b"}', "invalid_message"),
        ('{"type": "user_text", "text": "a\\ud800b"}', "invalid_message"),
        ('{"type": "playback", "utterance_id": "x"}', "invalid_message"),
        ('{"type": "playback", "utterance_id": 1, "position_ms": NaN}', "invalid_json"),
        ('{"type": "playback", "utterance_id": 1, "position_ms": 1e999}', "invalid_message"),
        ('{"type": "avatar_toggle", "enabled": "yes"}', "invalid_message"),
        ('{"type": "avatar_status", "status": "maybe"}', "invalid_message"),
        ('{"type": "hello", "token": "t"}', "already_connected"),
        ('{"type": "user_text", "text": "' + "x" * 17000 + '"}', "message_too_large"),
    ],
)
def test_bad_messages_get_an_error_and_the_conversation_goes_on(raw: str, code: str) -> None:
    async def scenario() -> None:
        async with ConversationKit(agent=ScriptedAgent([REPLY])) as client:
            await client.wait_for("state", state="listening")
            await client.send(raw)
            error = await client.wait_for("error", code=code)
            assert error["message"]
            await client.send({"type": "ping"})
            await client.wait_for("pong")
            await client.send({"type": "user_text", "text": "Still there?"})
            await client.wait_for("turn_end", turn_id=1, interrupted=False)

    run_virtual(scenario())


def test_an_agent_failing_mid_reply_is_reported_and_the_conversation_goes_on() -> None:
    broken = AgentError("the model went away")
    agent = ScriptedAgent([broken, REPLY], fail_after=4)

    async def scenario() -> None:
        async with ConversationKit(agent=agent) as client:
            await client.wait_for("state", state="listening")
            await client.send({"type": "user_text", "text": "Hello?"})
            error = await client.wait_for("error")
            assert error["code"] == broken.code
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["reason"] == "error"
            await client.wait_for("state", state="listening")
            await client.send({"type": "user_text", "text": "Hello again?"})
            await client.wait_for("turn_end", turn_id=2, reason="completed")
            turns = await client.turns()
            assert [(t.outcome, t.error_code) for t in turns] == [
                ("error", broken.code),
                ("completed", None),
            ]

    run_virtual(scenario())


def test_a_voice_failing_on_a_sentence_ends_the_turn_with_an_error() -> None:
    tts = FakeTTS(fail_on={"hard problem": RuntimeError("voice crashed")})

    async def scenario() -> None:
        async with ConversationKit(agent=ScriptedAgent([REPLY]), tts=tts) as client:
            await client.wait_for("state", state="listening")
            await client.send({"type": "user_text", "text": "Go on."})
            error = await client.wait_for("error")
            assert error["code"] == "internal"
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["reason"] == "error"
            spoken = " ".join(m["text"] for m in client.messages("sentence"))
            assert spoken.startswith("Thanks, that sounds interesting.")
            assert "hard problem" not in spoken

    run_virtual(scenario())


def test_the_client_ends_the_conversation() -> None:
    async def scenario() -> None:
        async with ConversationKit(agent=interviewer()) as client:
            await client.wait_for("state", state="speaking")
            await client.send({"type": "end"})
            end = await client.wait_for("end")
            assert end["reason"] == "ended_by_client"
            assert (await client.wait_for("turn_end", turn_id=1))["interrupted"] is True
            assert client.session is not None and client.session.close_code == 1000

    run_virtual(scenario())


def test_sentences_the_voice_cannot_say_are_skipped_with_an_event_and_a_note() -> None:
    reply = "Here is the plan. 这是一个很长的中文句子，我们的英语声音不会说。 And that is all."
    voice = BoundedVoice(FakeTTS(), voice="en-us")

    async def scenario() -> None:
        async with ConversationKit(agent=ScriptedAgent([reply]), tts=voice) as client:
            await client.wait_for("state", state="listening")
            await client.send({"type": "user_text", "text": "What is the plan?"})
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["reason"] == "completed"
            spoken = " ".join(m["text"] for m in client.messages("sentence"))
            assert "Here is the plan." in spoken and "And that is all." in spoken
            assert "中文" not in spoken
            stored = await client.transcript()
            notes = [e for e in stored if e.role == "note"]
            assert [n.text for n in notes] == ["1 sentence not spoken (unsupported_script)"]
            agent = [e for e in stored if e.role == "agent"]
            assert agent[0].text == "Here is the plan. And that is all."

    run_virtual(scenario())


def test_a_runaway_reply_is_cut_at_the_reply_limit() -> None:
    reply = " ".join(f"This is sentence number {n} of a reply that never ends." for n in range(60))

    async def scenario() -> None:
        agent = ScriptedAgent([reply])
        async with ConversationKit(agent=agent, settings={"tts_max_reply_chars": 200}) as client:
            await client.wait_for("state", state="listening")
            await client.send({"type": "user_text", "text": "Tell me everything."})
            await client.wait_for("turn_end", turn_id=1, reason="completed")
            spoken = " ".join(m["text"] for m in client.messages("sentence"))
            assert 100 < len(spoken) <= 200
            notes = [entry for entry in await client.wait_lines(3) if entry["role"] == "note"]
            assert notes and "reply_too_long" in notes[0]["text"]

    run_virtual(scenario())


def test_a_reply_with_nul_and_lone_surrogates_is_stored_as_heard(database_url: str) -> None:
    reply = "Here is\x00 a broken \ud800 stream. It goes on fine."

    async def scenario() -> None:
        agent = ScriptedAgent([reply])
        async with ConversationKit(agent=agent, database_url=database_url) as client:
            await client.wait_for("state", state="listening")
            await client.send({"type": "user_text", "text": "Go on."})
            await client.wait_for("turn_end", turn_id=1, reason="completed")
            stored = await client.transcript()
            agent_lines = [e.text for e in stored if e.role == "agent"]
            assert agent_lines == ["Here is a broken \ufffd stream. It goes on fine."]
            # The line is shown once stored, which may be after the turn's end.
            await client.until(
                lambda: any(m["entry"]["role"] == "agent" for m in client.messages("transcript"))
            )
            shown = [m["entry"]["text"] for m in client.messages("transcript")]
            assert shown[-1] == agent_lines[0], "the client sees what is stored"

    run_virtual(scenario())
