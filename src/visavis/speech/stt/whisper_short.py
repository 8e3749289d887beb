"""Whisper on an utterance without padding it to 30 seconds.

faster-whisper pads every window to Whisper's 30 s, and the encoder's cost grows faster than
the window (attention is quadratic): a 5 s utterance pays for 30 s, most of it silence.
CTranslate2's encoder takes shorter inputs, so here the utterance's features get a fixed
margin of silence (``PAD_FRAMES``) instead. On the evaluation set's unseen half the word error
rate was 14.8 % against 15.7 % padded, at 33× against 12× real time on one core
(``bench/stt.py``). Longer audio goes through faster-whisper's own windowed path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visavis.speech.stt.base import SAMPLE_RATE, Segment, Word

PAD_FRAMES = 300  # 3 s of silence after the speech (10 ms frames), chosen on the dev half
MAX_FRAMES = 3000  # Whisper's 30 s window
TOKENS_PER_SECOND = 10  # a generous bound on speech; stops a decoder that repeats itself
NO_SPEECH = 0.6  # Whisper's own thresholds for "this window holds no speech"
LOW_LOGPROB = -1.0
# Without its 30 s padding the decoder now and then stops at a long pause (2 of 64 utterances
# of the dev half): when a second or more of sound follows the last word, the utterance is
# decoded again the usual way (resuming after the last word repeated words whose alignment
# ended early).
UNHEARD_S = 1.0
SOUND_RMS = 0.01  # about -40 dBFS over 30 ms
# The other way it goes wrong: the decoder loops, saying a stretch again, or a phrase over and
# over, into the silence after the speech (Whisper base on about one utterance in twenty of
# the dev half), or starts the sentence over and runs out of tokens half-way through it
# (tiny.en, now and then, on a 2.6 s sentence). A span of this many tokens said twice is taken
# as a loop, and the utterance decoded the usual way (people rarely repeat five words or more
# verbatim within one utterance; if they did, the padded decode keeps it).
LOOP_TOKENS = 6


def fits(samples: int) -> bool:
    """Whether ``samples`` (16 kHz) fit one short-context decode."""
    return samples // 160 + PAD_FRAMES <= MAX_FRAMES


def decode_short(
    model: Any, tokenizer: Any, audio: np.ndarray, *, words: bool, beam_size: int
) -> list[Segment] | None:
    """Segments for ``audio`` (float32, 16 kHz, short enough to ``fit``), word-timed if
    ``words``; None when the decoder seems to have stopped early (decode it padded instead).
    ``model`` is a faster-whisper ``WhisperModel``, ``tokenizer`` its tokenizer."""
    try:
        segment = _decode_once(model, tokenizer, audio, words=words, beam_size=beam_size)
    except _Looped:
        return None
    if segment is None:
        return []
    if segment.words:
        rest = audio[round(segment.words[-1].end * SAMPLE_RATE) :]
        if len(rest) >= UNHEARD_S * SAMPLE_RATE and _has_sound(rest):
            return None
    return [segment]


class _Looped(Exception):
    """The short decode repeated itself."""


def loops(tokens: list[int], span: int = LOOP_TOKENS) -> bool:
    """Whether some run of ``span`` tokens comes twice, the two not overlapping."""
    first_seen: dict[tuple[int, ...], int] = {}
    for start in range(len(tokens) - span + 1):
        run = tuple(tokens[start : start + span])
        seen = first_seen.setdefault(run, start)
        if start - seen >= span:
            return True
    return False


def _has_sound(audio: np.ndarray) -> bool:
    frames = audio[: len(audio) // 480 * 480].reshape(-1, 480)
    return bool(len(frames)) and float(np.sqrt((frames**2).mean(axis=1)).max()) > SOUND_RMS


def _decode_once(
    model: Any, tokenizer: Any, audio: np.ndarray, *, words: bool, beam_size: int
) -> Segment | None:
    import ctranslate2

    features = model.feature_extractor(audio)
    frames = features.shape[-1]
    padded = np.zeros((features.shape[0], min(MAX_FRAMES, frames + PAD_FRAMES)), np.float32)
    padded[:, :frames] = features[:, : padded.shape[1]]
    encoded = model.model.encode(ctranslate2.StorageView.from_array(padded[None]), to_cpu=False)
    seconds = len(audio) / SAMPLE_RATE
    (result,) = model.model.generate(
        encoded,
        [[*tokenizer.sot_sequence, tokenizer.no_timestamps]],
        beam_size=beam_size,
        max_length=min(224, int(TOKENS_PER_SECOND * seconds) + 20),
        suppress_blank=True,
        suppress_tokens=[-1],
        return_scores=True,
        return_no_speech_prob=True,
    )
    if result.no_speech_prob > NO_SPEECH and result.scores[0] < LOW_LOGPROB:
        return None
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    if loops(tokens):
        raise _Looped
    text = tokenizer.decode(tokens).strip()
    if not text:
        return None
    timed: tuple[Word, ...] = ()
    if words:
        (aligned,) = model.find_alignment(tokenizer, [tokens], encoded, frames)
        timed = _merge_punctuation(
            [
                Word(w["word"].strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
                for w in aligned
                if w["word"].strip()
            ]
        )
    start, end = (timed[0].start, timed[-1].end) if timed else (0.0, seconds)
    return Segment(text, start, min(end, seconds), timed)


def _merge_punctuation(words: list[Word]) -> tuple[Word, ...]:
    """Punctuation the tokenizer split off joins the word before it, as faster-whisper does."""
    merged: list[Word] = []
    for word in words:
        if merged and not any(ch.isalnum() for ch in word.text):
            last = merged[-1]
            merged[-1] = Word(last.text + word.text, last.start, last.end, last.probability)
        else:
            merged.append(word)
    return tuple(merged)
