from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visavis.conversation.journal import (
    DEGRADABLE,
    TRANSITIONS,
    ConversationState,
    ConversationStateMachine,
    InvalidStateTransition,
    StateChange,
)
from visavis.errors import ConflictError

S = ConversationState


class Recorder:
    def __init__(self) -> None:
        self.changes: list[StateChange] = []

    async def __call__(self, change: StateChange) -> None:
        self.changes.append(change)


async def test_a_turn_moves_through_the_phases_and_is_recorded() -> None:
    ticks = iter(range(100))
    machine = ConversationStateMachine(
        clock=lambda: float(next(ticks)),
        wall_clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    recorder = Recorder()
    machine.add_listener(recorder)
    path = [S.CONNECTING, S.READY, S.LISTENING, S.THINKING, S.SPEAKING, S.LISTENING]
    for state in path:
        await machine.transition(state, reason=f"to {state}")
    assert machine.state == S.LISTENING
    assert [c.to_state for c in recorder.changes] == path
    assert [c.from_state for c in recorder.changes] == [S.IDLE, *path[:-1]]
    assert machine.history == recorder.changes
    first = recorder.changes[0]
    assert first.monotonic_s == 0.0
    assert first.to_event() == {
        "from": "idle",
        "to": "connecting",
        "degraded": False,
        "was_degraded": False,
        "reason": "to connecting",
        "at": "2026-01-01T00:00:00+00:00",
        "monotonic_s": 0.0,
        "rejected": False,
    }
    json.dumps([c.to_event() for c in recorder.changes])


async def test_invalid_transition_raises_and_is_recorded() -> None:
    machine = ConversationStateMachine()
    recorder = Recorder()
    machine.add_listener(recorder)
    with pytest.raises(InvalidStateTransition, match="cannot go from idle to speaking") as caught:
        await machine.transition(S.SPEAKING, reason="audio arrived")
    assert isinstance(caught.value, ConflictError)
    assert machine.state == S.IDLE
    (refused,) = recorder.changes
    assert refused.rejected
    assert (refused.from_state, refused.to_state) == (S.IDLE, S.SPEAKING)
    assert caught.value.change == refused
    assert machine.history == [refused]


async def test_staying_in_the_same_phase_is_not_a_change() -> None:
    machine = ConversationStateMachine(initial=S.LISTENING)
    assert await machine.transition(S.LISTENING, reason="interrupt while listening") is None
    assert machine.history == []
    assert machine.can(S.LISTENING)


async def test_degraded_is_an_overlay_kept_across_phases() -> None:
    machine = ConversationStateMachine(initial=S.SPEAKING)
    recorder = Recorder()
    machine.add_listener(recorder)
    change = await machine.set_degraded(True, reason="avatar provider failed")
    assert change is not None
    assert (change.from_state, change.to_state) == (S.SPEAKING, S.SPEAKING)
    assert (change.was_degraded, change.degraded) == (False, True)
    assert await machine.set_degraded(True, reason="again") is None
    await machine.transition(S.LISTENING, reason="reply spoken")
    assert machine.degraded
    assert recorder.changes[-1].degraded
    await machine.set_degraded(False, reason="avatar back")
    assert not machine.degraded


async def test_cannot_degrade_outside_a_live_conversation() -> None:
    machine = ConversationStateMachine(initial=S.DISCONNECTED)
    with pytest.raises(InvalidStateTransition, match="cannot degrade while disconnected"):
        await machine.set_degraded(True, reason="avatar failed after the client left")
    assert not machine.degraded
    assert machine.history[-1].rejected


async def test_listener_failure_propagates_after_the_change() -> None:
    machine = ConversationStateMachine()

    async def broken(change: StateChange) -> None:
        raise RuntimeError("event store down")

    machine.add_listener(broken)
    with pytest.raises(RuntimeError, match="event store down"):
        await machine.transition(S.CONNECTING, reason="hello")
    assert machine.state == S.CONNECTING
    machine.remove_listener(broken)
    await machine.transition(S.READY, reason="ready")


async def test_concurrent_changes_reach_listeners_in_order() -> None:
    machine = ConversationStateMachine(initial=S.LISTENING)
    seen: list[ConversationState] = []

    async def slow(change: StateChange) -> None:
        await asyncio.sleep(0.01 if change.to_state == S.THINKING else 0)
        seen.append(change.to_state)

    machine.add_listener(slow)
    await asyncio.gather(
        machine.transition(S.THINKING, reason="first delta"),
        machine.transition(S.SPEAKING, reason="first audio"),
    )
    assert seen == [S.THINKING, S.SPEAKING]


def test_table_covers_every_state_and_every_live_state_can_fail_or_drop() -> None:
    assert set(TRANSITIONS) == set(ConversationState)
    for state, targets in TRANSITIONS.items():
        assert state not in targets
        if state != S.DISCONNECTED:
            assert S.DISCONNECTED in targets
    assert TRANSITIONS[S.DISCONNECTED] == {S.CONNECTING}
    assert {S.CONNECTING, S.READY, S.LISTENING, S.THINKING, S.SPEAKING} == DEGRADABLE


@settings(max_examples=200, deadline=None)
@given(targets=st.lists(st.sampled_from(list(ConversationState)), max_size=30))
def test_machine_follows_the_table(targets: list[ConversationState]) -> None:
    async def run() -> None:
        machine = ConversationStateMachine()
        expected = S.IDLE
        for target in targets:
            legal = target == expected or target in TRANSITIONS[expected]
            assert machine.can(target) == legal
            if legal:
                await machine.transition(target, reason="test")
                expected = target
            else:
                with pytest.raises(InvalidStateTransition):
                    await machine.transition(target, reason="test")
            assert machine.state == expected
        accepted = [c for c in machine.history if not c.rejected]
        for before, after in zip(accepted, accepted[1:], strict=False):
            assert before.to_state == after.from_state

    asyncio.run(run())
