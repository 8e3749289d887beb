"""The local voice: a sentence someone is waiting for starts with its first words, sooner."""

from __future__ import annotations

import asyncio

import pytest

from visavis.speech.tts.piper import PiperEngine
from visavis.speech.voice import FIRST_CHUNK_S, LocalVoice

pytestmark = pytest.mark.slow

SENTENCE = "Thank you for that very clear answer about your last project."


async def test_a_sentence_due_now_starts_with_a_short_piece_and_loses_nothing() -> None:
    voice = LocalVoice(PiperEngine(first_chunk_words=None), sample_rate=24000)
    pieces = [piece async for piece in voice.speak(SENTENCE)]
    assert " ".join(piece.text for piece in pieces) == SENTENCE
    first = pieces[0]
    assert len(pieces) >= 3  # the first words apart, and their first part apart again
    assert FIRST_CHUNK_S <= first.duration_ms / 1000 < 1.2
    assert len(first.text.split()) < len(SENTENCE.split()) / 3
    assert all(piece.cues and piece.method == "phones" for piece in pieces)
    # Only the end of the first words loses its closing silence, not a cut inside them.
    assert pieces[1].duration_ms > 150


async def test_a_sentence_due_later_comes_whole() -> None:
    voice = LocalVoice(PiperEngine(first_chunk_words=None), sample_rate=24000)
    later = asyncio.get_running_loop().time() + 10
    pieces = [piece async for piece in voice.speak(SENTENCE, deadline=later)]
    assert [piece.text for piece in pieces] == [SENTENCE]
