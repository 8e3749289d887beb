"""The answer prepared while the person pauses, in process on virtual time: it starts at the
pause, nothing of it reaches the client before the end of the turn, it is confirmed when the
turn ends there with the same words and discarded unheard when the person goes on."""

from __future__ import annotations

import numpy as np

from visavis.testing import ConversationKit, EnergyDetector, FakeSTT, ScriptedAgent, run_virtual
from visavis.testing.stt import silence, tone

GREETING = "Hello, I am Sam. What do you do?"
FIRST = "I build data pipelines"
WHOLE = "I build data pipelines and I also run them at night"
PHRASES = {440: FIRST, 660: WHOLE}


def kit(agent: ScriptedAgent, *, decode_s: float = 0.05, pause_ms: int = 200) -> ConversationKit:
    return ConversationKit(
        agent=agent,
        stt=FakeSTT(PHRASES, decode_s=decode_s),
        speech_detector=EnergyDetector,
        settings={"stt_pause_ms": pause_ms, "stt_end_silence_ms": 600},
    )


def test_the_answer_starts_at_the_pause_and_is_heard_only_after_the_end_of_turn() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent([GREETING, "Interesting. Tell me more."], greets_first=True)
        async with kit(agent) as client:
            await client.wait_for("turn_end", turn_id=1)
            await client.wait_lines(1)  # the greeting's line, stored just after its turn
            mark = len(client.received)
            await client.speak(np.concatenate([silence(0.3), tone(440, 1.2), silence(0.45)]))
            # 450 ms into the silence: past the pause (200 ms), before the end (600 ms).
            assert agent.turns == 2, "the agent was asked at the pause"
            assert agent.seen[-1][-1].content == FIRST
            early = [r.message for r in client.received[mark:] if r.type != "user_partial"]
            assert [(m or {}).get("event") for m in early] == ["speech_started"]
            await client.speak(silence(1.0))
            await client.wait_for("turn_end", turn_id=2, after=mark, interrupted=False)
            kinds = [
                r.message["event"] if r.type == "voice" and r.message else r.type
                for r in client.received[mark:]
            ]
            first_frame = kinds.index("frame")
            # Nothing of the prepared answer before the end of turn (the user's line follows once
            # stored: docs/protocol.md, Transcript lines).
            assert kinds.index("speech_ended") < kinds.index("state") < first_frame
            assert kinds.index("state") < kinds.index("agent_delta") < first_frame
            states = [m["state"] for m in client.messages("state")][-3:]
            assert states == ["thinking", "speaking", "listening"]
            assert agent.turns == 2, "the prepared answer was the one given"
            entries = (await client.wait_lines(3))[-2:]
            assert [(e["role"], e["text"]) for e in entries] == [
                ("user", FIRST),
                ("agent", "Interesting. Tell me more."),
            ]
            metrics = client.messages("metrics")[-1]
            assert metrics["turn_id"] == 2 and metrics["first_delta_ms"] == 0

    run_virtual(scenario())


def _first_audio_after_end(pause_ms: int) -> int:
    """From the end of the person's turn to the answer's first audio frame (ms)."""

    async def scenario() -> int:
        agent = ScriptedAgent([GREETING, "Interesting."], greets_first=True)
        async with kit(agent, decode_s=0.3, pause_ms=pause_ms) as client:
            await client.wait_for("turn_end", turn_id=1)
            await client.wait_lines(1)  # the greeting's line, stored just after its turn
            mark = len(client.received)
            await client.speak(np.concatenate([silence(0.3), tone(440, 1.2), silence(1.5)]))
            ended = await client.wait_for("voice", event="speech_ended", after=mark)
            await client.wait_for("turn_end", turn_id=2, after=mark)
            first = next(r.at_ms for r in client.received[mark:] if r.frame is not None)
            return first - int(ended["at_ms"])

    return run_virtual(scenario())


def test_the_prepared_answer_is_heard_sooner() -> None:
    """The recognizer takes 300 ms: prepared at the pause, none of it is left after the end."""
    prepared, unprepared = _first_audio_after_end(200), _first_audio_after_end(0)
    assert unprepared >= 300
    assert prepared < unprepared - 250


def test_words_after_the_pause_discard_the_prepared_answer_unheard() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent(
            [GREETING, "Prepared too early.", "Night runs, then."], greets_first=True
        )
        async with kit(agent) as client:
            await client.wait_for("turn_end", turn_id=1)
            await client.wait_lines(1)  # the greeting's line, stored just after its turn
            mark = len(client.received)
            speech = [silence(0.3), tone(440, 0.8), silence(0.4), tone(660, 1.6), silence(1.2)]
            await client.speak(np.concatenate(speech))
            await client.wait_for("turn_end", turn_id=2, after=mark, interrupted=False)
            asked = [messages[-1].content for messages in agent.seen[1:]]
            assert asked[0] == FIRST and asked[-1] == WHOLE
            deltas = "".join(m["text"] for m in client.messages("agent_delta"))
            assert "Prepared too early." not in deltas
            entries = (await client.wait_lines(3))[-2:]
            assert [(e["role"], e["text"]) for e in entries] == [
                ("user", WHOLE),
                ("agent", "Night runs, then."),
            ]
            # Turn numbers stay consecutive: the discarded answer never was a turn.
            assert {m["turn_id"] for m in client.messages("turn_end")} == {1, 2}
            assert {m["turn_id"] for m in client.messages("agent_delta")} == {1, 2}
            stored = await client.turns()
            assert [(t.seq, t.user_text) for t in stored] == [(1, None), (2, WHOLE)]

    run_virtual(scenario())


def test_a_typed_message_during_the_pause_discards_the_prepared_answer() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent([GREETING, "Not this.", "Typed, then."], greets_first=True)
        async with kit(agent) as client:
            await client.wait_for("turn_end", turn_id=1)
            await client.wait_lines(1)  # the greeting's line, stored just after its turn
            mark = len(client.received)
            await client.speak(np.concatenate([silence(0.3), tone(440, 1.0), silence(0.3)]))
            assert agent.turns == 2
            await client.send({"type": "user_text", "text": "Let me type instead."})
            await client.wait_for("turn_end", turn_id=2, after=mark)
            await client.speak(silence(0.2))
            texts = [m["entry"]["text"] for m in client.messages("transcript")]
            assert "Not this." not in texts and "Typed, then." in texts

    run_virtual(scenario())
