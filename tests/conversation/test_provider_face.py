"""An audio-driven face through a real conversation, and a face that joins late.

In process on virtual time: our voice synthesizes each sentence once, the face gets that audio
(never text), the transcript's timing is our audio's; interrupting cuts at what was heard; a
failing face hands the rest to the local voice; a face slower than the start deadline joins
between two sentences, and one that never comes leaves the conversation on the local voice.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from tests.avatars.face_fake import FakeFace
from visavis.db.models import AvatarSession, AvatarSessionEvent
from visavis.testing import ConversationKit, FakeTTS, ScriptedAgent, run_virtual

SECONDS_PER_CHAR = 0.05
REPLY = (
    "First, a short opening sentence here. "
    "Second, this sentence is a good deal longer than the one before it. "
    "Third, a closing sentence ends the reply."
)
SENTENCES = [
    "First, a short opening sentence here.",
    "Second, this sentence is a good deal longer than the one before it.",
    "Third, a closing sentence ends the reply.",
]


def kit(
    face: FakeFace, *replies: str, agent: ScriptedAgent | None = None, **settings: object
) -> ConversationKit:
    return ConversationKit(
        agent=agent or ScriptedAgent(list(replies or (REPLY,))),
        tts=FakeTTS(seconds_per_char=SECONDS_PER_CHAR),
        avatar=face,
        settings=dict(settings),
    )


async def events(client: ConversationKit) -> list[tuple[str, str | None]]:
    session = client.session
    assert session is not None
    async with session.services.sessions() as db:
        rows = await db.scalars(
            select(AvatarSessionEvent)
            .where(AvatarSessionEvent.conversation_id == client.conversation_id)
            .order_by(AvatarSessionEvent.id)
        )
        return [(row.kind, row.reason) for row in rows]


async def events_with(client: ConversationKit, kind: str) -> list[tuple[str, str | None]]:
    """The events once one of ``kind`` is stored: a fallback is stored after the conversation
    was told of it, off its critical path."""
    for _ in range(40):  # each sleep lets real I/O finish (virtual time)
        found = await events(client)
        if any(k == kind for k, _ in found):
            return found
        await asyncio.sleep(1.5)
    return await events(client)


async def avatar_rows(client: ConversationKit) -> list[AvatarSession]:
    session = client.session
    assert session is not None
    async with session.services.sessions() as db:
        rows = await db.scalars(
            select(AvatarSession).where(AvatarSession.conversation_id == client.conversation_id)
        )
        return list(rows)


def test_the_face_gets_our_audio_once_and_the_transcript_keeps_our_timing() -> None:
    face = FakeFace()

    async def scenario() -> None:
        async with kit(face) as client:
            await client.wait_for("avatar", status="ready")
            await client.send({"type": "user_text", "text": "Hello."})
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["interrupted"] is False
            said = [m["text"] for m in client.messages("sentence") if m["turn_id"] == 1]
            assert " ".join(said) == REPLY
            # The face spoke with our voice: no frames or mouth cues went to the browser.
            assert client.frames() == [] and client.messages("visemes") == []
            assert face.speak_calls == 0
            assert [u.ended for u in face.utterances] == [True] * len(said)
            seconds = sum(u.seconds for u in face.utterances)
            words = sum(len(text) for text in said)
            assert abs(seconds - words * SECONDS_PER_CHAR) < 0.1 * len(said)
            # Each utterance reached the face no earlier than a second before it plays, and
            # one followed the other: the face never had more than that buffered.
            for before, after in zip(face.utterances, face.utterances[1:], strict=False):
                assert after.began_at >= before.began_at + before.seconds - 1.0 - 1e-6
            (entry,) = [e for e in await client.transcript() if e.role == "agent"]
            assert entry.text == REPLY
            assert entry.duration_ms is not None
            assert abs(entry.duration_ms / 1000 - seconds) < 0.1

    run_virtual(scenario())


def test_interrupting_the_face_cuts_at_what_was_heard() -> None:
    face = FakeFace()

    async def scenario() -> None:
        async with kit(face) as client:
            await client.wait_for("avatar", status="ready")
            await client.send({"type": "user_text", "text": "Hello."})
            await client.until(lambda: len(face.utterances) >= 3)
            cut_at = client.now_ms() + 300
            await client.until(lambda: client.now_ms() >= cut_at)
            pushed = sum(len(u.pushed_at) for u in face.utterances)
            await client.send({"type": "interrupt"})
            end = await client.wait_for("turn_end", turn_id=1)
            assert end["interrupted"] is True
            session = face.sessions[face.utterances[-1].session_id]
            await client.until(lambda: session.interrupts >= 1)
            assert face.utterances[-1].interrupted and not face.utterances[-1].ended
            # Nothing more of the reply reaches the face after the interrupt.
            await client.until(lambda: client.now_ms() >= cut_at + 3000)
            assert sum(len(u.pushed_at) for u in face.utterances) == pushed
            (entry,) = [e for e in await client.transcript() if e.role == "agent"]
            assert REPLY.startswith(entry.text) and len(entry.text) < len(REPLY)
            assert entry.text.startswith(SENTENCES[0])
            # What was heard ends at the interrupt, on our audio's clock.
            assert client.session is not None
            offset = client.now_ms() - client.session.clock.ms()
            assert entry.actual_start_ms is not None and entry.duration_ms is not None
            assert abs(offset + entry.actual_start_ms + entry.duration_ms - cut_at) <= 100

    run_virtual(scenario())


def test_a_face_failing_mid_turn_hands_the_rest_to_the_local_voice() -> None:
    face = FakeFace(fail_on_utterance=frozenset({2}))

    async def scenario() -> None:
        async with kit(face) as client:
            await client.wait_for("avatar", status="ready")
            await client.send({"type": "user_text", "text": "Hello."})
            await client.wait_for("turn_end", turn_id=1)
            fallback = await client.wait_for("avatar", fallback="audio")
            assert fallback["reason"] == "provider_error"
            sentences = {
                m["utterance_id"]: m["text"]
                for m in client.messages("sentence")
                if m["turn_id"] == 1
            }
            # The piece the face failed on keeps the utterance id the client was told; the
            # local voice says it and everything after it.
            local_ids = {m["utterance_id"] for m in client.messages("visemes")}
            face_ids = sorted(set(sentences) - local_ids)
            assert len(face_ids) == 1 and face_ids[0] < min(local_ids)
            assert len(face.utterances) == 1 and face.utterances[0].ended
            told = " ".join(sentences[uid] for uid in sorted(sentences))
            assert told == REPLY
            (entry,) = [e for e in await client.transcript() if e.role == "agent"]
            assert entry.text == REPLY
            assert ("fallback", "provider_error") in await events_with(client, "fallback")

    run_virtual(scenario())


def test_a_late_face_joins_between_two_sentences() -> None:
    face = FakeFace(start_delays_s=(4.0,))
    replies = (REPLY, "Understood. Let us move on to the next question. It is about your work.")

    async def scenario() -> None:
        async with kit(face, *replies) as client:
            waiting = await client.wait_for("avatar", reason="timeout")
            assert waiting["enabled"] is True and waiting["status"] == "connecting"
            await client.send({"type": "user_text", "text": "Hello."})
            # The reply starts with the local voice at once (the face is still starting).
            first = await client.wait_for("sentence", turn_id=1)
            assert client.now_ms() < 4000
            ready = await client.wait_for("avatar", status="ready")
            assert ready["reason"] is None and ready["media"] is not None
            await client.wait_for("turn_end", turn_id=1)
            await client.send({"type": "user_text", "text": "Go on."})
            await client.wait_for("turn_end", turn_id=2)
            local_ids = {m["utterance_id"] for m in client.messages("visemes")}
            said = {m["utterance_id"]: m for m in client.messages("sentence")}
            assert first["utterance_id"] in local_ids
            face_ids = sorted(set(said) - local_ids)
            # The second turn is on the face, whole; nothing was said twice or lost.
            assert [said[uid]["turn_id"] for uid in face_ids][-1] == 2
            assert len(face.utterances) == len(face_ids)
            assert all(u.began_at >= 4.0 for u in face.utterances)
            transcript = [e for e in await client.transcript() if e.role == "agent"]
            assert [e.text for e in transcript] == list(replies)
            kinds = [kind for kind, _ in await events(client)]
            assert kinds.index("waiting") < kinds.index("started") < kinds.index("joined")
            assert "fallback" not in kinds

    run_virtual(scenario())


def test_a_face_joining_mid_reply_speaks_after_the_local_voice() -> None:
    face = FakeFace(start_delays_s=(3.5,))
    # A long first sentence, and a hesitation: the face is up while the local voice is still
    # saying the first sentence, and the second comes after that.
    first = "So, this opening sentence runs on for quite a while, long enough to be still going."
    reply = f"{first} {SENTENCES[1]} {SENTENCES[2]}"
    agent = ScriptedAgent([reply], pause_after={"going.": 5.0})

    async def scenario() -> None:
        async with kit(face, agent=agent) as client:
            await client.send({"type": "user_text", "text": "Hello."})
            await client.wait_for("avatar", reason="timeout")
            await client.wait_for("turn_end", turn_id=1)
            said = {m["utterance_id"]: m["text"] for m in client.messages("sentence")}
            local_ids = {m["utterance_id"] for m in client.messages("visemes")}
            assert local_ids and len(face.utterances) >= 1
            local_frames = [r.at_ms for r in client.frames()]
            face_ids = sorted(set(said) - local_ids)
            assert " ".join(said[uid] for uid in face_ids) == " ".join(SENTENCES[1:])
            assert len(face.utterances) == len(face_ids)
            # The face starts once the local voice's audio has played (its last frame went out
            # at most the lead ahead), and the order of the reply holds.
            assert face.utterances[0].began_at * 1000 >= local_frames[-1]
            assert max(local_ids) < min(face_ids)
            (entry,) = [e for e in await client.transcript() if e.role == "agent"]
            assert entry.text == reply

    run_virtual(scenario())


def test_a_face_that_never_comes_leaves_the_conversation_on_the_local_voice() -> None:
    face = FakeFace(start_delays_s=(60.0,))

    async def scenario() -> None:
        async with kit(face, avatar_join_limit_s=10.0) as client:
            await client.wait_for("avatar", reason="timeout")
            await client.send({"type": "user_text", "text": "Hello."})
            await client.wait_for("turn_end", turn_id=1)
            gone = await client.wait_for("avatar", fallback="audio")
            assert gone["enabled"] is False and gone["reason"] == "timeout"
            assert client.now_ms() >= 10_000  # given up at the join limit, not the deadline
            assert face.utterances == []
            (row,) = await avatar_rows(client)
            assert row.started_at is None  # never billed
            kinds = [kind for kind, _ in await events_with(client, "fallback")]
            assert "waiting" in kinds and "fallback" in kinds and "joined" not in kinds
            assert row.provider == "fake"
            assert uuid.UUID(str(row.conversation_id)) == client.conversation_id

    run_virtual(scenario())


def test_the_clients_quality_reaches_the_sessions_started_while_it_is_connected() -> None:
    face = FakeFace()

    async def scenario() -> None:
        async with kit(face) as client:
            await client.wait_for("avatar", status="ready")
            assert client.session is not None
            # What ``hello.quality`` sets (the session passes it to the conversation's avatar).
            client.session.avatar.quality = "high"
            await client.send({"type": "avatar_toggle", "enabled": False})
            await client.wait_for("avatar", enabled=False)
            mark = len(client.received)
            await client.send({"type": "avatar_toggle", "enabled": True})
            await client.wait_for("avatar", after=mark, status="ready")
            # Created at conversation start with the conversation's quality, then the client's.
            assert [r.quality for r in face.requests] == [None, "high"]

    run_virtual(scenario())


def test_a_face_the_provider_closes_between_turns_falls_back_at_once() -> None:
    face = FakeFace()

    async def scenario() -> None:
        async with kit(face) as client:
            await client.wait_for("avatar", status="ready")
            await client.send({"type": "user_text", "text": "Hello."})
            await client.wait_for("turn_end", turn_id=1)
            face.close_by_provider(face.session(0).session_id, "NO_CREDITS")
            gone = await client.wait_for("avatar", fallback="audio", timeout_s=2)
            assert gone["enabled"] is False and gone["reason"] == "provider_error"
            mark = len(client.received)
            await client.send({"type": "user_text", "text": "Go on."})
            await client.wait_for("turn_end", turn_id=2)
            assert any(r.frame for r in client.received[mark:]), "the local voice speaks"
            assert len(face.utterances) == 3  # nothing more went to the closed face

    run_virtual(scenario())


def test_a_face_switched_off_while_it_starts_is_stopped_when_it_comes() -> None:
    face = FakeFace(start_delays_s=(5.0,))

    async def scenario() -> None:
        async with kit(face) as client:
            await client.wait_for("avatar", reason="timeout")
            await client.send({"type": "avatar_toggle", "enabled": False})
            await client.wait_for("avatar", enabled=False)
            await client.until(lambda: bool(face.sessions) and face.session(0).stopped)
            await client.send({"type": "user_text", "text": "Hello."})
            await client.wait_for("turn_end", turn_id=1)
            assert face.utterances == [] and client.frames()
            assert not [m for m in client.messages("avatar") if m.get("status") == "ready"]
            (row,) = await avatar_rows(client)
            assert row.status == "stopped" and row.stop_reason == "user_disabled"

    run_virtual(scenario())
