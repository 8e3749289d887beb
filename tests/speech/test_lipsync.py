import numpy as np
import pytest

from visavis.speech.errors import AlignmentError, InvalidAudioError
from visavis.speech.lipsync import LipSyncStream, VisemeTrack, animate
from visavis.speech.lipsync.acoustic import default_model
from visavis.speech.lipsync.aligner import align, check_match
from visavis.speech.lipsync.features import features
from visavis.speech.lipsync.g2p import text_to_words
from visavis.speech.tts.base import AudioChunk, PhoneTiming
from visavis.speech.tts.espeak import EspeakEngine

OPEN = {"AA", "AE", "AH", "AW", "AY", "EH"}


def _closed_near(track: VisemeTrack, release: float) -> bool:
    return any(
        c.shape == "A" and c.end > release - 0.12 and c.start < release + 0.02 for c in track.cues
    )


def _check_track(track: VisemeTrack, chunk: AudioChunk) -> None:
    cues = track.cues
    assert cues[0].start == 0.0 and cues[-1].end == pytest.approx(chunk.duration)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(cues, cues[1:], strict=False))
    assert all(c.shape in "ABCDEFGHX" for c in cues)


@pytest.mark.parametrize("method", ["phones", "aligned"])
def test_lips_close_for_every_p_b_m_and_rest_in_long_pauses(
    paused_chunk: AudioChunk, method: str
) -> None:
    chunk = paused_chunk
    if method == "phones":
        track = animate(chunk.pcm, chunk.sample_rate, phones=chunk.phones)
    else:
        track = animate(chunk.pcm, chunk.sample_rate, text=chunk.text)
    assert track.method == method and track.fallback_reason is None
    _check_track(track, chunk)
    for phone in chunk.phones or ():
        if phone.phone in ("P", "B", "M"):
            assert _closed_near(track, phone.start), phone
    pause = next(p for p in chunk.phones or () if p.phone == "SIL" and p.end - p.start > 0.9)
    assert track.shape_at((pause.start + pause.end) / 2) == "X"
    open_frames = [
        (p.start + p.end) / 2
        for p in chunk.phones or ()
        if p.phone in OPEN and p.end - p.start > 0.08
    ]
    shown = [track.shape_at(t) for t in open_frames]
    assert sum(s in "AX" for s in shown) <= len(shown) * 0.1
    assert sum(s in "CD" for s in shown) >= len(shown) * 0.6


def test_mouth_leads_the_sound_and_never_lags(espeak_chunk: AudioChunk) -> None:
    track = animate(espeak_chunk.pcm, espeak_chunk.sample_rate, phones=espeak_chunk.phones)
    vowel = next(p for p in espeak_chunk.phones or () if p.phone == "AO")
    assert track.shape_at(vowel.start) == "E"
    assert track.shape_at(vowel.start - 0.005) == "E"


def test_lips_close_just_before_a_release_without_eating_the_open_vowel(
    espeak_chunk: AudioChunk,
) -> None:
    phones = list(espeak_chunk.phones or ())
    track = animate(espeak_chunk.pcm, espeak_chunk.sample_rate, phones=phones)
    after_vowel = [
        (before, p) for before, p in zip(phones, phones[1:], strict=False) if p.phone in ("P", "B")
    ]
    checked = 0
    for before, release in after_vowel:
        if before.phone in OPEN and before.end - before.start > 0.08:
            assert track.shape_at(release.start - 0.005) == "A"
            assert track.shape_at(release.start - 0.035) in "CD"
            checked += 1
    assert checked >= 2
    # After a pause the lips may close earlier: nothing is taken from a vowel.
    opening = phones[1]
    assert phones[0].phone == "SIL" and opening.phone == "B"
    assert track.shape_at(0.0) == "A"


@pytest.mark.parametrize("with_text", [True, False])
def test_a_quiet_lead_in_is_rest_not_speech(espeak_chunk: AudioChunk, with_text: bool) -> None:
    # Faint noise before and after the words, as in recordings and neural voices.
    rng = np.random.default_rng(3)
    lead = (rng.normal(0, 1, 4800) * np.abs(espeak_chunk.pcm).max() * 0.002).astype(np.int16)
    pcm = np.concatenate([lead, espeak_chunk.pcm, lead])
    text = espeak_chunk.text if with_text else None
    track = animate(pcm, espeak_chunk.sample_rate, text=text)
    assert track.method == ("aligned" if with_text else "audio"), track.fallback_reason
    first, last = track.cues[0], track.cues[-1]
    speech_starts = len(lead) / espeak_chunk.sample_rate
    assert first.shape == "X" and first.end >= speech_starts - 0.08
    assert last.shape == "X" and last.start <= len(pcm) / espeak_chunk.sample_rate - 0.25


def test_the_mouth_opens_when_speech_starts_even_on_brief_first_sounds() -> None:
    phones = [
        PhoneTiming("SIL", 0.0, 0.3), PhoneTiming("L", 0.3, 0.32), PhoneTiming("OW", 0.32, 0.6),
        PhoneTiming("SIL", 0.6, 1.0),
    ]  # fmt: skip
    track = animate(np.zeros(16000, dtype=np.int16), 16000, phones=phones)
    assert track.shape_at(0.28) == "X"
    # The brief L is merged away, but into the vowel after it, not into the rest before it.
    assert track.shape_at(0.295) == "E"
    assert track.shape_at(0.7) == "X"


def test_text_that_does_not_match_falls_back_to_audio_only(espeak_chunk: AudioChunk) -> None:
    wrong = "Seventeen quiet zebras examined the unusual weather forecast in Lisbon yesterday."
    track = animate(espeak_chunk.pcm, espeak_chunk.sample_rate, text=wrong)
    assert track.method == "audio"
    assert track.fallback_reason is not None and "does not match" in track.fallback_reason
    _check_track(track, espeak_chunk)


def test_text_without_words_falls_back_too(espeak_chunk: AudioChunk) -> None:
    track = animate(espeak_chunk.pcm, espeak_chunk.sample_rate, text="...")
    assert track.method == "audio" and track.fallback_reason


def test_audio_alone_still_closes_lips_and_rests_in_silence(paused_chunk: AudioChunk) -> None:
    track = animate(paused_chunk.pcm, paused_chunk.sample_rate)
    assert track.method == "audio"
    _check_track(track, paused_chunk)
    closures = [p for p in paused_chunk.phones or () if p.phone in ("P", "B", "M")]
    assert sum(_closed_near(track, p.start) for p in closures) >= len(closures) * 0.5
    pause = next(p for p in paused_chunk.phones or () if p.end - p.start > 0.9)
    assert track.shape_at((pause.start + pause.end) / 2) in "XA"


def test_silence_and_noise_are_rest() -> None:
    silence = np.zeros(16000, dtype=np.int16)
    track = animate(silence, 16000)
    assert {c.shape for c in track.cues} == {"X"}


def test_empty_or_bad_audio_is_refused() -> None:
    with pytest.raises(InvalidAudioError):
        animate(np.zeros(0, dtype=np.int16), 16000)
    with pytest.raises(InvalidAudioError):
        animate(np.zeros(100, dtype=np.int16), 100)


def test_without_extended_shapes_only_basic_shapes_appear(espeak_chunk: AudioChunk) -> None:
    full = animate(espeak_chunk.pcm, espeak_chunk.sample_rate, phones=espeak_chunk.phones)
    assert {"G", "X"} & {c.shape for c in full.cues}
    basic = full.with_shapes("")
    assert {c.shape for c in basic.cues} <= set("ABCDEF")


def test_stream_animates_chunk_by_chunk_on_each_chunk_clock(
    espeak_chunk: AudioChunk, paused_chunk: AudioChunk
) -> None:
    stream = LipSyncStream()
    first = stream.push(espeak_chunk)
    second = stream.push(
        AudioChunk(pcm=paused_chunk.pcm, sample_rate=16000, text=paused_chunk.text)
    )
    assert first.method == "phones" and second.method == "aligned"
    assert second.metadata["offset"] == pytest.approx(espeak_chunk.duration)
    assert second.cues[0].start == 0.0
    compact = second.to_compact(offset=second.metadata["offset"])
    assert set(compact[0]) == {"t", "d", "s", "v"}
    assert compact[0]["t"] == pytest.approx(espeak_chunk.duration, abs=1e-3)


async def test_async_push_runs_off_the_event_loop(espeak_chunk: AudioChunk) -> None:
    stream = LipSyncStream()
    chunk = AudioChunk(pcm=espeak_chunk.pcm, sample_rate=16000, text=espeak_chunk.text)
    track = await stream.apush(chunk)
    assert track.method == "aligned"


@pytest.mark.parametrize("with_text", [True, False])
def test_a_pause_with_a_faint_hum_is_rest(paused_chunk: AudioChunk, with_text: bool) -> None:
    # Synthesizers and rooms leave a faint hum in pauses: still a pause, not a long consonant.
    rng = np.random.default_rng(3)
    seconds = np.arange(len(paused_chunk.pcm)) / paused_chunk.sample_rate
    hum = np.sin(2 * np.pi * 120 * seconds) + 0.3 * rng.normal(0, 1, len(seconds))
    hum *= 60 / np.sqrt(np.mean(hum**2))  # about -55 dBFS
    pcm = np.clip(paused_chunk.pcm + hum, -32768, 32767).astype(np.int16)
    text = paused_chunk.text if with_text else None
    track = animate(pcm, paused_chunk.sample_rate, text=text)
    pause = next(p for p in paused_chunk.phones or () if p.phone == "SIL" and p.end - p.start > 0.9)
    inside = np.arange(pause.start + 0.1, pause.end - 0.1, 0.01)
    assert all(track.shape_at(t) == "X" for t in inside)
    first_p = next(p for p in paused_chunk.phones or () if p.phone == "P")
    assert _closed_near(track, first_p.start)


def test_british_speech_is_aligned_in_british_pronunciation_when_american_does_not_fit() -> None:
    text = "The dancer laughed and asked for a glass of water in the bath."
    chunk = EspeakEngine(voice="en").synthesize_sentence(text, 16000)
    model = default_model()
    loglik = model.log_likelihoods(features(chunk.pcm, chunk.sample_rate))
    american = align(loglik, text_to_words(text, voice="en-us"), model)
    with pytest.raises(AlignmentError, match="does not match"):
        check_match(american)
    track = animate(chunk.pcm, chunk.sample_rate, text=text)  # the default language, en-us
    assert track.method == "aligned" and track.fallback_reason is None
    _check_track(track, chunk)
