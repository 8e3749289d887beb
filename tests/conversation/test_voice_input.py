"""Voice input in the live session, in process on virtual time: the person speaks (tones the
fake recognizer knows as phrases), turns start, the agent is interrupted by voice, bad frames
are refused and the conversation goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from visavis.conversation import mic_frames, protocol
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt.finer_when_idle import FinerWhenIdle
from visavis.testing import ConversationKit, EnergyDetector, FakeSTT, ScriptedAgent, run_virtual
from visavis.testing.stt import silence, tone

GREETING = "Hello, I am Sam. What do you do?"
LONG_REPLY = " ".join(["This is a long answer that goes on and on for a while."] * 6)
SAID = "I build data pipelines"
STOP = "wait a moment please"
PHRASES = {440: SAID, 660: STOP}


def kit(agent: ScriptedAgent, **kwargs: Any) -> ConversationKit:
    return ConversationKit(
        agent=agent,
        stt=FakeSTT(PHRASES),
        speech_detector=EnergyDetector,
        **kwargs,
    )


def test_spoken_turn_is_transcribed_timed_and_answered() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent([GREETING, "Interesting."], greets_first=True)
        async with kit(agent) as client:
            ready = await client.wait_for("ready")
            assert ready["audio_in"]["accepted"] is True
            assert ready["audio_in"]["header_bytes"] == mic_frames.MIC_HEADER_BYTES
            await client.wait_for("turn_end", turn_id=1)
            mark = len(client.received)
            await client.speak(silence(0.4))
            onset_ms = client.session.clock.ms()  # type: ignore[union-attr]
            await client.speak(tone(440, 1.2))
            await client.speak(silence(1.0))
            entry = (await client.wait_lines(2))[1]  # after the greeting's line
            assert entry["role"] == "user" and entry["text"] == SAID
            assert abs(entry["actual_start_ms"] - onset_ms) <= 60
            assert abs(entry["duration_ms"] - 1200) <= 60
            partials = client.messages("user_partial")
            assert partials and all(SAID.startswith(p["text"]) for p in partials)
            await client.wait_for("turn_end", turn_id=2, after=mark, interrupted=False)
            assert agent.seen[-1][-1].content == SAID
            stored = await client.transcript()
            assert [e.role for e in stored] == ["agent", "user", "agent"]
            assert stored[1].duration_ms == entry["duration_ms"]

    run_virtual(scenario())


def test_silence_and_quiet_noise_start_no_turn() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent(["Fine."])
        async with kit(agent) as client:
            await client.wait_for("state", state="listening")
            rng = np.random.default_rng(7)
            noise = (rng.standard_normal(16000 * 3) * 32767 * 10 ** (-55 / 20)).astype(np.int16)
            await client.speak(silence(2.0))
            await client.speak(noise)
            await asyncio.sleep(2.0)
            assert client.messages("transcript") == []
            assert client.messages("voice") == []
            assert agent.turns == 0

    run_virtual(scenario())


def test_speech_while_the_agent_speaks_interrupts_it() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent([LONG_REPLY, "Sure, take your time."], greets_first=True)
        async with kit(agent) as client:
            await client.wait_for("state", state="speaking")
            await asyncio.sleep(1.0)
            onset_ms = client.now_ms()
            speaking = asyncio.create_task(
                client.speak(np.concatenate([tone(660, 1.0), silence(1.0)]))
            )
            barge = await client.wait_for("voice", event="barge_in")
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["interrupted"] is True
            last_agent_frame = max(r.at_ms for r in client.frames())
            assert last_agent_frame - onset_ms <= 200, "the agent stops soon after speech begins"
            assert barge["at_ms"] > 0
            await speaking
            await client.wait_for("turn_end", turn_id=2, interrupted=False)
            entries = await client.wait_lines(3)
            assert [(e["role"], e["interrupted"]) for e in entries] == [
                ("agent", True),
                ("user", False),
                ("agent", False),
            ]
            assert entries[1]["text"] == STOP
            assert entries[0]["text"] and entries[0]["text"] != LONG_REPLY

    run_virtual(scenario())


def test_a_click_while_the_agent_speaks_does_not_interrupt() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent([LONG_REPLY], greets_first=True)
        async with kit(agent) as client:
            await client.wait_for("state", state="speaking")
            # Under the barge-in minimum (120 ms of speech).
            await client.speak(np.concatenate([tone(660, 0.08), silence(1.0)]))
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["interrupted"] is False
            assert client.messages("voice") == []
            await client.wait_lines(1)
            assert [m["entry"]["role"] for m in client.messages("transcript")] == ["agent"]

    run_virtual(scenario())


def test_quiet_echo_of_the_agent_does_not_interrupt() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent([LONG_REPLY], greets_first=True)
        # A detector as sensitive as Silero is to quiet speech: the echo is heard as speech.
        sensitive = ConversationKit(
            agent=agent,
            stt=FakeSTT(PHRASES),
            speech_detector=lambda: EnergyDetector(threshold_dbfs=-60.0),
        )
        async with sensitive as client:
            await client.wait_for("state", state="speaking")
            # The agent's voice through the speakers, after the browser's echo cancellation:
            # about 30 dB under speech, under the barge-in level (-40 dBFS).
            await client.speak(np.concatenate([tone(440, 2.0, level_dbfs=-50.0), silence(1.0)]))
            assert (await client.wait_for("voice", event="ignored_echo"))["message"]
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["interrupted"] is False
            await client.wait_lines(1)
            assert [m["entry"]["role"] for m in client.messages("transcript")] == ["agent"]
            assert agent.turns == 1

    run_virtual(scenario())


def test_an_utterance_over_the_limit_is_cut_and_answered() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent(["Got it."])
        async with kit(agent, settings={"stt_max_utterance_s": 1.0}) as client:
            await client.wait_for("state", state="listening")
            await client.speak(np.concatenate([tone(440, 1.5), silence(1.0)]))
            cut = await client.wait_for("voice", event="utterance_cut")
            assert "1 s" in cut["message"]
            entry = (await client.wait_for("transcript"))["entry"]
            assert entry["role"] == "user" and entry["text"] == SAID
            await client.wait_for("turn_end", turn_id=1)

    run_virtual(scenario())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"XX\x00\x00\x00\x00\x00\x01" + b"\x00" * 640, "invalid_audio_frame"),
        (mic_frames.encode_mic_frame(1, b"\x00" * 641), "invalid_audio_frame"),
        (b"M1", "invalid_audio_frame"),
        (mic_frames.encode_mic_frame(1, b""), "invalid_audio_frame"),
        (mic_frames.encode_mic_frame(1, b"\x00" * 3202), "audio_frame_too_long"),
    ],
)
def test_malformed_frames_get_an_error_and_the_conversation_goes_on(
    frame: bytes, code: str
) -> None:
    async def scenario() -> None:
        agent = ScriptedAgent(["Fine."])
        async with kit(agent) as client:
            await client.wait_for("state", state="listening")
            await client.send_bytes(frame)
            error = await client.wait_for("error")
            assert error["code"] == code
            await client.speak(np.concatenate([tone(440, 0.8), silence(1.0)]))
            await client.wait_for("turn_end", turn_id=1, interrupted=False)

    run_virtual(scenario())


def test_a_catch_up_after_a_stall_is_heard_and_a_flood_is_dropped() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent(["Fine.", "Again."])
        async with kit(agent) as client:
            await client.wait_for("state", state="listening")
            # After a network stall, 2.5 s of the person's words arrive at once: all heard.
            stalled = np.concatenate([silence(0.3), tone(440, 1.0), silence(1.2)])
            for seq, start in enumerate(range(0, len(stalled), 320)):
                await client.send_bytes(mic_frames.encode_mic_frame(seq, stalled[start:][:320]))
            await client.speak(silence(0.3))
            await client.wait_for("turn_end", turn_id=1, interrupted=False)
            assert not client.messages("error")
            await asyncio.sleep(5.0)  # a silent client is owed nothing for it
            # 6 s of audio at once: 3 s of catching up pass, the rest is refused.
            for seq in range(300):
                await client.send_bytes(mic_frames.encode_mic_frame(seq, silence(0.02)))
            await client.wait_for("error")
            await asyncio.sleep(0.01)
            errors = client.messages("error")
            assert {e["code"] for e in errors} == {"audio_too_fast"}
            assert 145 <= len(errors) <= 155
            await asyncio.sleep(5.0)
            # Tiny frames count 10 ms each: 400 frames of 2 ms at once are 4 s, not 0.8 s.
            for seq in range(400):
                await client.send_bytes(mic_frames.encode_mic_frame(seq, silence(0.002)))
            await asyncio.sleep(0.01)
            assert 95 <= len(client.messages("error")) - len(errors) <= 105
            await asyncio.sleep(5.0)
            # The conversation goes on.
            await client.speak(np.concatenate([tone(440, 0.8), silence(1.0)]))
            await client.wait_for("turn_end", turn_id=2, interrupted=False)

    run_virtual(scenario())


def test_frames_without_audio_in_are_refused() -> None:
    async def scenario() -> None:
        async with ConversationKit(agent=ScriptedAgent(["Fine."])) as client:
            ready = await client.wait_for("ready")
            assert ready["audio_in"]["accepted"] is False
            await client.send_bytes(mic_frames.encode_mic_frame(1, silence(0.02)))
            assert (await client.wait_for("error"))["code"] == "audio_in_not_accepted"
            await client.send({"type": "user_text", "text": "hello"})
            await client.wait_for("turn_end", turn_id=1)

    run_virtual(scenario())


def test_hello_with_another_audio_format_is_refused() -> None:
    hello = '{"type": "hello", "token": "t", "audio_in": {"format": "opus", "sample_rate": 48000}}'
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_message(hello, max_bytes=10_000)
    assert refused.value.code == "invalid_hello"
    mic = '{"format": "pcm_s16le", "sample_rate": 16000}'
    ok = protocol.parse_message(
        f'{{"type": "hello", "token": "t", "audio_in": {mic}}}', max_bytes=10_000
    )
    assert isinstance(ok, protocol.Hello) and ok.audio_in is True


def test_push_to_talk_release_ends_the_turn_at_once() -> None:
    async def scenario() -> None:
        agent = ScriptedAgent(["Fine.", "Again."])
        async with kit(agent) as client:
            await client.wait_for("state", state="listening")
            await client.speak(tone(440, 1.0))  # no silence after: the key is released
            released = client.now_ms()
            await client.send({"type": "audio_in_end"})
            entry = (await client.wait_for("transcript"))["entry"]
            assert entry["role"] == "user" and entry["text"] == SAID
            await client.wait_for("turn_end", turn_id=1)
            assert client.messages("transcript")[0]["entry"]["text"] == SAID
            started = next(r.at_ms for r in client.received if r.type == "transcript")
            assert started - released < 300, "no end silence to wait for"
            # The microphone keeps working after a release.
            await client.speak(np.concatenate([tone(660, 0.8), silence(1.0)]))
            await client.wait_for("turn_end", turn_id=2)
            users = [m["entry"]["text"] for m in client.messages("transcript")]
            assert STOP in users

    run_virtual(scenario())


def test_a_spoken_turn_is_answered_with_the_turn_model_asked_for() -> None:
    """Installed or not (then a warning), the audio turn model changes no turn's words."""

    async def scenario() -> None:
        agent = ScriptedAgent(["Fine.", "Again."])
        async with kit(agent, settings={"stt_turn_model": True}) as client:
            await client.wait_for("state", state="listening")
            await client.speak(np.concatenate([silence(0.3), tone(440, 1.0), silence(1.0)]))
            entry = (await client.wait_for("transcript"))["entry"]
            assert entry["role"] == "user" and entry["text"] == SAID
            await client.wait_for("turn_end", turn_id=1)
            assert agent.seen[-1][-1].content == SAID

    run_virtual(scenario())


@pytest.mark.parametrize("end_silence_ms", [None, 1500])
def test_a_conversation_with_a_longer_end_silence_lets_the_person_think(
    end_silence_ms: int | None,
) -> None:
    """A one-second pause ends the turn at the instance's 600 ms; a conversation created with
    1,500 ms hears the person out, and its answer waits that long after the last word."""

    async def scenario() -> None:
        agent = ScriptedAgent(["Fine.", "Again.", "Once more."])
        fields = {"end_silence_ms": end_silence_ms} if end_silence_ms else {}
        async with kit(agent, conversation=fields) as client:
            ready = await client.wait_for("ready")
            assert ready["audio_in"]["end_silence_ms"] == (end_silence_ms or 600)
            await client.wait_for("state", state="listening")
            await client.speak(np.concatenate([silence(0.3), tone(440, 1.0), silence(1.0)]))
            await client.speak(tone(440, 1.0))
            done_speaking = client.now_ms()
            await client.speak(silence(2.5))
            await asyncio.sleep(1.0)
            said = [
                m["entry"]["duration_ms"]
                for m in client.messages("transcript")
                if m["entry"]["role"] == "user"
            ]
            expected = [1000, 1000] if end_silence_ms is None else [3000]
            assert len(said) == len(expected), said
            assert all(abs(d - e) <= 150 for d, e in zip(said, expected, strict=True)), said
            if end_silence_ms is None:
                return
            ended = await client.wait_for("voice", event="speech_ended")
            waited = next(r.at_ms for r in client.received if r.message is ended) - done_speaking
            assert 1500 <= waited < 1500 + 400, waited

    run_virtual(scenario())


@pytest.mark.parametrize(("end_silence_ms", "heard"), [(1500, "fine words"), (400, "fast words")])
def test_a_conversation_quicker_than_the_instance_keeps_the_fast_model(
    end_silence_ms: int, heard: str
) -> None:
    """With a finer model for idle times, a conversation whose end silence is shorter than the
    instance's has no time to wait for it: its turns go to the fast model."""

    async def scenario() -> None:
        agent = ScriptedAgent(["Fine.", "Again."])
        engine = FinerWhenIdle(
            FakeSTT({440: "fast words"}),
            FakeSTT({440: "fine words"}),
            scheduler=DeadlineScheduler(slots=2),
            budget_s=0.3,
        )
        async with ConversationKit(
            agent=agent,
            stt=engine,
            speech_detector=EnergyDetector,
            conversation={"end_silence_ms": end_silence_ms},
        ) as client:
            await client.wait_for("state", state="listening")
            await client.speak(np.concatenate([silence(0.3), tone(440, 1.0), silence(2.0)]))
            entry = (await client.wait_for("transcript"))["entry"]
            assert entry["role"] == "user" and entry["text"] == heard

    run_virtual(scenario())


def test_the_conversations_vocabulary_spells_what_the_person_says() -> None:
    """Every decode of the person's speech (partials, the pause, the final) is given the
    conversation's names and terms; the fake spells a word as the prompt does."""

    async def scenario() -> None:
        agent = ScriptedAgent(["Fine.", "Again."])
        stt = FakeSTT({440: "i build data pipelines at zalando"})
        async with ConversationKit(
            agent=agent,
            stt=stt,
            speech_detector=EnergyDetector,
            conversation={"vocabulary": ["Zalando", "Siobhan Nakamura"]},
        ) as client:
            await client.wait_for("state", state="listening")
            await client.speak(np.concatenate([silence(0.3), tone(440, 1.5), silence(1.0)]))
            entry = (await client.wait_for("transcript"))["entry"]
            assert entry["text"] == "i build data pipelines at Zalando"
            assert agent.seen[-1][-1].content == entry["text"]
            assert len(stt.prompts) >= 2
            assert set(stt.prompts) == {"Names and terms: Zalando, Siobhan Nakamura."}

    run_virtual(scenario())
