"""``visavis transcribe``: text, JSON with word times, SRT and VTT; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from tests.speech.stt.conftest import piper_speech, word_errors
from visavis.cli import app

FIRST = "Please tell me about the last project you worked on."
SECOND = "I built the billing system for a small bank."

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("recordings")
    pause = np.zeros(16000, np.int16)
    two = np.concatenate([piper_speech(FIRST), pause, piper_speech(SECOND)])
    # Any format: a 44.1 kHz stereo FLAC and a 16 kHz WAV.
    flac = folder / "interview.flac"
    stereo = np.stack([two, two], axis=1).astype(np.float32) / 32768
    from scipy.signal import resample_poly

    sf.write(flac, resample_poly(stereo, 441, 160, axis=0), 44100, subtype="PCM_24")
    wav = folder / "answer.wav"
    sf.write(wav, piper_speech(SECOND), 16000, subtype="PCM_16")
    return flac, wav


def test_text_to_stdout(recordings: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(app, ["transcribe", str(recordings[0]), "-q"])
    assert result.exit_code == 0, result.output
    assert word_errors(f"{FIRST} {SECOND}", result.stdout) <= 2, result.stdout


def test_every_format_into_a_folder(recordings: tuple[Path, Path], tmp_path: Path) -> None:
    flac, wav = recordings
    for fmt in ("json", "srt", "vtt", "txt"):
        result = CliRunner().invoke(
            app, ["transcribe", str(flac), str(wav), "-f", fmt, "--out-dir", str(tmp_path), "-q"]
        )
        assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "interview.json").read_text())
    assert word_errors(f"{FIRST} {SECOND}", data["text"]) <= 2
    words = data["words"]
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    # One segment per stretch of speech; the second after the first and the pause, on the
    # file's timeline.
    assert len(data["segments"]) == 2
    assert data["segments"][1]["start"] > 3.0
    srt = (tmp_path / "interview.srt").read_text()
    assert srt.startswith("1\n00:00:00,") and "\n\n2\n00:00:0" in srt
    vtt = (tmp_path / "answer.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.")
    assert word_errors(SECOND, vtt.splitlines()[3]) <= 1
    assert word_errors(SECOND, (tmp_path / "answer.txt").read_text()) <= 1
    assert not list(tmp_path.glob("*.part"))


def test_progress_bar_on_stderr(recordings: tuple[Path, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["transcribe", str(recordings[1]), "--out-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "answer.wav" in result.stderr and "100%" in result.stderr


def test_errors_are_one_line_and_write_nothing(
    tmp_path: Path, recordings: tuple[Path, Path]
) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all " * 20)
    out = tmp_path / "out"
    cases = [
        (["transcribe", str(notes), "--out-dir", str(out)], "notes.wav is not audio"),
        (["transcribe", str(tmp_path / "missing.wav")], "no such file"),
        (["transcribe", str(recordings[1]), str(notes)], "several audio files need --out-dir"),
        (["transcribe", str(recordings[1]), "--language", "de"], "en only"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, [*args, "-q"])
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("visavis: error:"), result.stderr
        assert message in lines[0]
    assert not out.exists() or not list(out.iterdir())


def test_too_long_audio_is_refused(recordings: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(
        app, ["transcribe", str(recordings[0]), "-q"], env={"VISAVIS_STT_MAX_AUDIO_S": "2"}
    )
    assert result.exit_code == 1
    assert "longer than the limit of 2 s" in result.stderr


def test_a_prompt_spells_the_names_it_gives(tmp_path: Path) -> None:
    said = "I moved our services from Heroku to Kubernetes last spring."
    wav = tmp_path / "heroku.wav"
    sf.write(wav, piper_speech(said), 16000, subtype="PCM_16")
    plain = CliRunner().invoke(app, ["transcribe", str(wav), "-q"])
    told = CliRunner().invoke(app, ["transcribe", str(wav), "-q", "--prompt", "Heroku"])
    assert plain.exit_code == told.exit_code == 0, plain.output + told.output
    assert "Heroku" not in plain.stdout, "the premise: unknown, it is misheard"
    assert "Heroku" in told.stdout and word_errors(said, told.stdout) == 0, told.stdout
