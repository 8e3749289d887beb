"""Quality reports into events: the baseline, the burst, and a flapping link folded into one."""

from __future__ import annotations

import asyncio
from typing import Any

from visavis.conversation.media_quality import QualityEvents


async def test_a_flapping_link_is_folded_into_one_event_after_the_interval() -> None:
    loop = asyncio.get_running_loop()
    recorded: list[dict[str, Any]] = []
    events = QualityEvents(recorded.append, now=loop.time, burst=2, interval_s=0.2)
    events.report("good", "connection_quality", provider="simli")  # the baseline
    events.report("poor", "connection_quality", provider="simli")
    events.report("lost", "connection_quality", provider="simli")
    for _ in range(10):
        events.report("poor", "frame_drops", provider="simli")
        events.report("good", "frame_drops", provider="simli")
    events.report("poor", "frame_drops", provider="simli")
    assert [(e["from"], e["to"]) for e in recorded] == [("good", "poor"), ("poor", "lost")]
    await asyncio.sleep(0.35)
    assert len(recorded) == 3
    folded = recorded[2]
    assert (folded["from"], folded["to"], folded["reason"]) == ("lost", "poor", "frame_drops")
    assert folded["changes"] == 21 and folded["provider"] == "simli"
    events.close()


async def test_a_link_that_flaps_back_records_nothing_and_a_bad_start_is_a_change() -> None:
    loop = asyncio.get_running_loop()
    recorded: list[dict[str, Any]] = []
    events = QualityEvents(recorded.append, now=loop.time, burst=1, interval_s=0.1)
    events.report("poor", "connection_quality", provider="liveavatar")
    assert [(e["from"], e["to"]) for e in recorded] == [("unknown", "poor")]
    events.report("good", "connection_quality", provider="liveavatar")
    events.report("poor", "connection_quality", provider="liveavatar")
    await asyncio.sleep(0.25)
    assert len(recorded) == 1  # back where it was recorded: nothing to say
    events.close()


async def test_close_drops_a_pending_event() -> None:
    loop = asyncio.get_running_loop()
    recorded: list[dict[str, Any]] = []
    events = QualityEvents(recorded.append, now=loop.time, burst=1, interval_s=0.1)
    events.report("poor", "connection_quality", provider="akool")
    events.report("lost", "connection_quality", provider="akool")
    events.close()
    await asyncio.sleep(0.2)
    assert len(recorded) == 1
