"""Interruption, across every way of speaking and every moment of a reply.

{local voice, provider avatar, provider failing over to the local voice} × {before the first
audio, mid-utterance, between utterances, during a provider renewal}: after the interrupt no
speech of the interrupted reply reaches the listener (no frame, nothing more said by the
avatar), the transcript keeps exactly what the listener heard, and the next turn is whole.

What was heard is worked out from the listener's side: audio frames as they arrived and the
avatar's speech as the provider was asked for it, each played back to back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from visavis.testing import ConversationKit, FakeAvatarProvider, ScriptedAgent, run_virtual

REPLY = (
    "First, a short opening sentence here. "
    "Second, this sentence is a good deal longer than the one before it. "
    "Third, a closing sentence ends the reply."
)
NEXT = "Understood. Let us move on to the next question."
MS_PER_CHAR = 60.0


@dataclass(frozen=True)
class Case:
    output: str  # "local", "provider" or "failover"
    moment: str  # "before_audio", "mid_utterance", "between", "renewal"


CASES = [
    Case(output, moment)
    for output in ("local", "provider", "failover")
    for moment in ("before_audio", "mid_utterance", "between", "renewal")
    if not (output == "local" and moment == "renewal")  # the local voice never renews
]


def provider_for(case: Case) -> FakeAvatarProvider | None:
    if case.output == "local":
        return None
    fail = frozenset({2} if case.moment in ("mid_utterance", "renewal") else {1})
    if case.output == "provider":
        fail = frozenset()
    if case.moment == "renewal":
        # Sessions of 4 s: the second sentence needs a new one, which takes a while to start.
        slow = 2.0 if case.output == "provider" else 0.5
        return FakeAvatarProvider(
            session_s=4.0, start_delays_s=(0.0, slow), fail_on_speak=fail, ms_per_char=MS_PER_CHAR
        )
    return FakeAvatarProvider(fail_on_speak=fail, ms_per_char=MS_PER_CHAR)


@dataclass
class Heard:
    utterance_id: int
    text: str
    start_ms: float
    duration_ms: float


def timeline(client: ConversationKit, avatar: FakeAvatarProvider | None) -> list[Heard]:
    """The utterances of turn 1 as the listener gets them, in order."""
    texts = {m["utterance_id"]: m["text"] for m in client.messages("sentence") if m["turn_id"] == 1}
    local: list[Heard] = []
    end = 0.0
    for visemes in client.messages("visemes"):
        uid = visemes["utterance_id"]
        if uid not in texts:
            continue
        frames = [r.at_ms for r in client.frames() if r.frame and r.frame.utterance_id == uid]
        if not frames:
            continue
        start = max(frames[0], end)
        local.append(Heard(uid, texts[uid], start, visemes["duration_ms"]))
        end = start + visemes["duration_ms"]
    remote: list[Heard] = []
    if avatar is not None:
        end = 0.0
        said = [
            (at, text)
            for s in avatar.sessions.values()
            for at, text in zip(s.spoken_at, s.spoken, strict=True)
        ]
        ids = iter(sorted(uid for uid, text in texts.items()))
        by_text = {text: uid for uid, text in texts.items()}
        for at, text in sorted(said):
            uid = by_text.get(text, next(ids))
            start = max(at * 1000, end)
            remote.append(Heard(uid, text, start, len(text) * MS_PER_CHAR))
            end = start + len(text) * MS_PER_CHAR
    return sorted(local + remote, key=lambda h: h.utterance_id)


def heard_text(utterances: list[Heard], at_ms: float) -> str:
    parts = []
    for utterance in utterances:
        played = min(max(0.0, at_ms - utterance.start_ms), utterance.duration_ms)
        if played <= 0:
            break
        if played >= utterance.duration_ms:
            parts.append(utterance.text)
            continue
        words = utterance.text.split()
        keep = round(len(words) * played / utterance.duration_ms)
        parts.append(" ".join(words[:keep]))
        break
    return " ".join(p for p in parts if p)


async def reach(case: Case, client: ConversationKit, avatar: FakeAvatarProvider | None) -> None:
    """Wait until the moment of ``case`` in the reply of turn 1."""
    if case.moment == "before_audio":
        await client.wait_for("agent_delta", turn_id=1)
        return
    if case.moment == "renewal":
        assert avatar is not None
        await client.until(lambda: len(avatar.sessions) >= 2)  # the renewal is under way
        if case.output == "provider":
            await asyncio.sleep(0.5)
            return
    speaking_locally = case.output == "local" or (
        case.output == "failover" and case.moment != "between"
    )
    if case.moment == "between":
        await client.wait_for("sentence", turn_id=1)
        await asyncio.sleep(0.3)
        played = timeline(client, avatar)
        assert played, "something was said before the pause"
        last = played[-1]
        await asyncio.sleep((last.start_ms + last.duration_ms + 300) / 1000 - loop_s())
        assert len(timeline(client, avatar)) == len(played), "nothing new during the pause"
        return
    if speaking_locally:
        visemes = await client.wait_for("visemes")
        uid = visemes["utterance_id"]
        await client.until(
            lambda: any(r.frame and r.frame.utterance_id == uid for r in client.frames())
        )
        start = next(h for h in timeline(client, avatar) if h.utterance_id == uid)
        await asyncio.sleep((start.start_ms + 0.4 * start.duration_ms) / 1000 - loop_s())
        return
    assert avatar is not None
    await client.until(lambda: bool(avatar.spoken))
    first = timeline(client, avatar)[0]
    await asyncio.sleep((first.start_ms + 0.4 * first.duration_ms) / 1000 - loop_s())


def loop_s() -> float:
    return asyncio.get_running_loop().time()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.output}-{c.moment}")
def test_interruption(case: Case) -> None:
    avatar = provider_for(case)
    pause = {"here.": 6.0} if case.moment == "between" else {}
    agent = ScriptedAgent([REPLY, NEXT], pause_after=pause)

    async def scenario() -> None:
        async with ConversationKit(agent=agent, avatar=avatar) as client:
            await client.wait_for("state", state="listening")
            await client.send({"type": "user_text", "text": "Tell me more."})
            await reach(case, client, avatar)
            said_before = list(avatar.spoken) if avatar else []
            at_ms = await client.send({"type": "interrupt"})
            assert (await client.wait_for("turn_end", turn_id=1))["interrupted"] is True
            expected = heard_text(timeline(client, avatar), at_ms)
            await asyncio.sleep(5.0)  # long enough for anything left of the reply to show

            turn_1 = {m["utterance_id"] for m in client.messages("sentence") if m["turn_id"] == 1}
            late = [
                r
                for r in client.received
                if r.at_ms > at_ms
                and (
                    (r.frame is not None and r.frame.utterance_id in turn_1)
                    or (
                        r.message is not None
                        and r.message.get("turn_id") == 1
                        and r.type in ("sentence", "agent_delta")
                    )
                )
            ]
            assert late == [], "speech of the interrupted reply after the interrupt"
            if avatar is not None:
                assert avatar.spoken == said_before, "the avatar was asked to say more"
            await client.until(
                lambda: any(m["entry"]["role"] == "agent" for m in client.messages("transcript"))
            )
            entry = next(
                m["entry"] for m in client.messages("transcript") if m["entry"]["role"] == "agent"
            )
            assert entry["interrupted"] is True
            assert entry["text"] == expected
            if case.moment == "before_audio":
                assert expected == "" and entry["duration_ms"] == 0
            elif case.moment == "between" or (case.output, case.moment) == ("provider", "renewal"):
                assert expected == "First, a short opening sentence here."
            else:  # cut inside an utterance: some of its words, not all
                assert expected.startswith("First,") and not REPLY.startswith(expected + " Second")
                assert expected != REPLY

            mark = len(client.received)
            lines = len(client.messages("transcript"))
            await client.send({"type": "user_text", "text": "Fine, next question."})
            end = await client.wait_for("turn_end", turn_id=2, after=mark)
            assert end["interrupted"] is False and end["reason"] == "completed"
            entries = await client.wait_lines(lines + 2)  # the user's line and the reply
            assert entries[-1]["role"] == "agent" and entries[-1]["text"] == NEXT
            assert entries[-1]["interrupted"] is False
            assert entries[-1]["actual_start_ms"] >= (entry["actual_start_ms"] or 0)
            if case.output == "failover":
                degraded = [m for m in client.messages("state") if m["degraded"]]
                assert degraded and degraded[0]["reason"] == "provider_error"
                assert client.messages("visemes"), "the local voice took over"
            if case.moment == "renewal":
                assert avatar is not None and len(avatar.sessions) >= 2
            if case.output == "provider":
                assert avatar is not None and NEXT.split()[0] in " ".join(avatar.spoken)
                assert client.frames() == [], "the provider speaks: no local audio"
            stored = await client.transcript()
            assert [(e.role, e.text, e.interrupted) for e in stored] == [
                ("user", "Tell me more.", False),
                ("agent", expected, True),
                ("user", "Fine, next question.", False),
                ("agent", NEXT, False),
            ]

    run_virtual(scenario())
