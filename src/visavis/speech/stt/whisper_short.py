"""Whisper on an utterance without padding it to 30 seconds.

faster-whisper pads every window to Whisper's 30 s, and the encoder's cost grows faster than
the window (attention is quadratic): a 5 s utterance pays for 30 s, most of it silence.
CTranslate2's encoder takes shorter inputs, so here the utterance's features get a fixed
margin of silence (``PAD_FRAMES``) instead. On the evaluation set's unseen half the word error
rate was 14.8 % against 15.7 % padded, at 33× against 12× real time on one core
(``bench/stt.py``). Longer audio goes through faster-whisper's own windowed path.
"""

from __future__ import annotations

from collections.abc import Sequence
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
# Whisper's context is 448 tokens; the text before the audio gets at most half, as in
# faster-whisper.
MAX_PROMPT_TOKENS = 223


def fits(samples: int) -> bool:
    """Whether ``samples`` (16 kHz) fit one short-context decode."""
    return samples // 160 + PAD_FRAMES <= MAX_FRAMES


def width(samples: int, step: int) -> int:
    """The frames an utterance of ``samples`` is decoded in: its own and the margin of
    silence, rounded to the nearest multiple of ``step`` (1: exactly). Utterances of the same
    width decode together exactly as each would alone (the model sees the same input)."""
    frames = -(-(samples // 160 + PAD_FRAMES - step // 2) // step) * step
    return min(MAX_FRAMES, frames)


def decode_short_batch(
    model: Any,
    tokenizer: Any,
    audios: Sequence[np.ndarray],
    *,
    words: bool,
    beam_size: int,
    width_step: int = 1,
    cut_loops: bool = False,
    prompt: str | None = None,
) -> list[list[Segment] | None]:
    """Segments for each of ``audios`` (float32, 16 kHz, each short enough to ``fit``), in one
    pass of the encoder and the decoder; word-timed if ``words``. None for an utterance where
    the decoder seems to have stopped early or looped (decode it padded instead) — unless
    ``cut_loops``: then a loop is cut where the decoder started saying it again. That suits a
    partial transcript, which the final replaces: decoded again the padded way, with its
    fallback temperatures, it could take longer than the utterance itself on a busy machine.
    ``model`` is a faster-whisper ``WhisperModel``, ``tokenizer`` its tokenizer; ``prompt``
    is given to the decoder as the text before the audio, as faster-whisper does.

    On CPU a batch costs less than its utterances one by one (four, tiny.en: 0.73 of the CPU
    time, ``bench/stt_batch.py``), which is what a burst of turns ending together needs.
    All ``audios`` must have the same ``width`` for ``width_step``; each keeps its own token
    budget.
    """
    import ctranslate2

    (frames_wide,) = {width(len(audio), width_step) for audio in audios}
    features = [model.feature_extractor(audio) for audio in audios]
    frames = [f.shape[-1] for f in features]
    padded = np.zeros((len(features), features[0].shape[0], frames_wide), np.float32)
    for row, (f, count) in enumerate(zip(features, frames, strict=True)):
        padded[row, :, :count] = f[:, :frames_wide]
    encoded = model.model.encode(ctranslate2.StorageView.from_array(padded), to_cpu=False)
    seconds = [len(audio) / SAMPLE_RATE for audio in audios]
    budgets = [min(224, int(TOKENS_PER_SECOND * s) + 20) for s in seconds]
    before = previous_text(tokenizer, prompt)
    results = model.model.generate(
        encoded,
        [[*before, *tokenizer.sot_sequence, tokenizer.no_timestamps]] * len(features),
        beam_size=beam_size,
        # The length counts the prompt: the words keep the budget they have without one.
        max_length=max(budgets) + len(before),
        suppress_blank=True,
        suppress_tokens=[-1],
        return_scores=True,
        return_no_speech_prob=True,
    )
    decoded: list[list[Segment] | None] = []
    spoken: list[tuple[int, list[int]]] = []  # (row, tokens) of the utterances with words
    for row, result in enumerate(results):
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot][: budgets[row]]
        again = repeat_start(tokens)
        if again is not None and cut_loops:
            tokens, again = tokens[:again], None
        if result.no_speech_prob > NO_SPEECH and result.scores[0] < LOW_LOGPROB:
            decoded.append([])
        elif again is not None:
            decoded.append(None)
        elif not tokenizer.decode(tokens).strip():
            decoded.append([])
        else:
            decoded.append([])
            spoken.append((row, tokens))
    timings = _word_times(model, tokenizer, encoded, spoken, frames) if words else {}
    for row, tokens in spoken:
        segment = _segment(tokenizer.decode(tokens).strip(), timings.get(row, ()), seconds[row])
        decoded[row] = [segment] if _heard_to_the_end(segment, audios[row]) else None
    return decoded


def previous_text(tokenizer: Any, prompt: str | None) -> list[int]:
    """The tokens that give the decoder ``prompt`` as the text before the audio: Whisper's
    ``<|startofprev|>`` and at most the prompt's last ``MAX_PROMPT_TOKENS`` (none without a
    prompt)."""
    text = (prompt or "").strip()
    if not text:
        return []
    return [tokenizer.sot_prev, *tokenizer.encode(" " + text)[-MAX_PROMPT_TOKENS:]]


def _word_times(
    model: Any,
    tokenizer: Any,
    encoded: Any,
    spoken: list[tuple[int, list[int]]],
    frames: list[int],
) -> dict[int, tuple[Word, ...]]:
    """Word times of the utterances with words, aligned in one batch."""
    import ctranslate2

    if not spoken:
        return {}
    rows = [row for row, _ in spoken]
    if len(rows) != len(frames):
        kept = np.ascontiguousarray(np.asarray(encoded)[rows])
        encoded = ctranslate2.StorageView.from_array(kept)
    aligned = model.find_alignment(
        tokenizer, [tokens for _, tokens in spoken], encoded, [frames[row] for row in rows]
    )
    return {
        row: _merge_punctuation(
            [
                Word(w["word"].strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
                for w in words
                if w["word"].strip()
            ]
        )
        for row, words in zip(rows, aligned, strict=True)
    }


def _segment(text: str, timed: tuple[Word, ...], seconds: float) -> Segment:
    start, end = (timed[0].start, timed[-1].end) if timed else (0.0, seconds)
    return Segment(text, start, min(end, seconds), timed)


def _heard_to_the_end(segment: Segment, audio: np.ndarray) -> bool:
    """False when a second or more of sound follows the last word: the decoder stopped early."""
    if not segment.words:
        return True
    rest = audio[round(segment.words[-1].end * SAMPLE_RATE) :]
    return not (len(rest) >= UNHEARD_S * SAMPLE_RATE and _has_sound(rest))


def loops(tokens: list[int], span: int = LOOP_TOKENS) -> bool:
    """Whether some run of ``span`` tokens comes twice, the two not overlapping."""
    return repeat_start(tokens, span) is not None


def repeat_start(tokens: list[int], span: int = LOOP_TOKENS) -> int | None:
    """Where the decoder started saying again what it had said, if some run of ``span``
    tokens comes twice (the two not overlapping): the index of the repeat's first token."""
    first_seen: dict[tuple[int, ...], int] = {}
    for start in range(len(tokens) - span + 1):
        run = tuple(tokens[start : start + span])
        seen = first_seen.setdefault(run, start)
        if start - seen >= span:
            # The shortest period of the repeated stretch: a phrase said over and over is cut
            # after its first time, not after its first few.
            end = start + span
            period = next(
                step
                for step in range(1, start - seen + 1)
                if all(tokens[i] == tokens[i + step] for i in range(seen, end - step))
            )
            return seen + period
    return None


def _has_sound(audio: np.ndarray) -> bool:
    frames = audio[: len(audio) // 480 * 480].reshape(-1, 480)
    return bool(len(frames)) and float(np.sqrt((frames**2).mean(axis=1)).max()) > SOUND_RMS


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
