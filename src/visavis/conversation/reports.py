"""What a conversation reports beside its transcript: metrics and analytics events of its start
and of each turn, and the note of sentences the voice left out."""

from __future__ import annotations

import logging

from visavis.conversation.journal import ConversationJournal
from visavis.conversation.turn_figures import TurnFigures
from visavis.db.models import Conversation
from visavis.ops.metrics import Metrics
from visavis.timing import ConversationClock

logger = logging.getLogger(__name__)


def conversation_started(
    journal: ConversationJournal, metrics: Metrics | None, conversation: Conversation
) -> None:
    """A conversation's first connection: counted, and a ``conversation_started`` event."""
    agent = conversation.agent
    if metrics is not None:
        metrics.conversation_started(agent=agent)
    provider = conversation.avatar_provider if conversation.avatar_enabled else None
    journal.analytics("conversation_started", {"agent": agent, "avatar_provider": provider})


def turn_measured(
    journal: ConversationJournal, metrics: Metrics | None, agent: str, turn: TurnFigures
) -> None:
    """The turn's latencies as metrics, and a ``turn_completed`` analytics event."""
    if metrics is not None:
        if turn.first_delta_ms is not None:
            metrics.turn_first_text_after(turn.first_delta_ms / 1000, agent=agent)
        if turn.first_audio_ms is not None:
            metrics.turn_first_audio_after(turn.first_audio_ms / 1000, agent=agent)
    journal.analytics(
        "turn_completed",
        {
            "turn": turn.turn_id,
            "first_text_ms": turn.first_delta_ms,
            "first_audio_ms": turn.first_audio_ms,
            "interrupted": turn.outcome == "interrupted",
        },
    )


def voice_turn_measured(metrics: Metrics | None, agent: str, after_speech_ms: int) -> None:
    """A spoken turn's answer was first heard ``after_speech_ms`` after the person's speech
    ended: the figure the field competes on."""
    if metrics is not None:
        metrics.voice_turn_after(after_speech_ms / 1000, agent=agent)


def audio_underrun(metrics: Metrics | None, silence_ms: int) -> None:
    """The listener ran out of audio mid-reply for ``silence_ms``."""
    logger.info("the listener ran out of audio mid-reply for %d ms", silence_ms)
    if metrics is not None:
        metrics.audio_underrun()


def unsaid_noted(
    journal: ConversationJournal, clock: ConversationClock, skipped: list[tuple[str, str]]
) -> None:
    """Sentences the voice left out: an event each, and one note in the transcript."""
    if not skipped:
        return
    for reason, _ in skipped:
        journal.event("speech_skipped", reason=reason)
    reasons = ", ".join(dict.fromkeys(reason for reason, _ in skipped))
    count = len(skipped)
    text = f"{count} sentence{'s' if count > 1 else ''} not spoken ({reasons})"
    journal.transcript("note", text, actual_start_ms=clock.ms(), duration_ms=None)
