"""``visavis lipsync`` and ``visavis say``: Rhubarb-compatible output and one-line errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from visavis.cli.speech import EXIT_FALLBACK, register
from visavis.speech.tts.espeak import EspeakEngine

TEXT = "Bob bought a big map for his mother."


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chunk = EspeakEngine().synthesize_sentence(TEXT, 44100)
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    # 24-bit stereo at 44.1 kHz: any common format must load.
    stereo = np.stack([chunk.pcm, chunk.pcm], axis=1).astype(np.float64) / 32768
    sf.write(path, stereo, 44100, subtype="PCM_24")
    return path


def _run(app: typer.Typer, *args: str) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_json_output_is_rhubarb_json(app: typer.Typer, speech_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "cues.json"
    result = _run(app, "lipsync", speech_wav, "--text", TEXT, "-f", "json", "-o", out)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    document = json.loads(out.read_text())
    assert document["metadata"]["soundFile"] == str(speech_wav)
    assert document["metadata"]["visavis"]["method"] == "aligned"
    cues = document["mouthCues"]
    assert cues[0]["start"] == 0 and cues[-1]["end"] == document["metadata"]["duration"]
    assert "A" in {c["value"] for c in cues}


def test_dialog_file_tsv_to_stdout_and_rhubarb_option_names(
    app: typer.Typer, speech_wav: Path, tmp_path: Path
) -> None:
    dialog = tmp_path / "dialog.txt"
    dialog.write_text(TEXT)
    result = _run(app, "lipsync", speech_wav, "-d", dialog, "--extendedShapes", "")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    lines = result.stdout.strip().splitlines()  # type: ignore[attr-defined]
    shapes = {line.split("\t")[1] for line in lines[:-1]}
    assert shapes <= set("ABCDEF")
    assert lines[-1].endswith("\tA")  # the rest shape without X, as Rhubarb writes it


def test_several_files_go_to_an_out_dir(app: typer.Typer, speech_wav: Path, tmp_path: Path) -> None:
    second = tmp_path / "second.wav"
    second.write_bytes(speech_wav.read_bytes())
    out_dir = tmp_path / "out"
    for fmt, suffix in (("xml", ".xml"), ("oculus", ".oculus.json"), ("arkit", ".arkit.json")):
        result = _run(app, "lipsync", speech_wav, second, "-f", fmt, "--out-dir", out_dir)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert (out_dir / f"speech{suffix}").exists() and (out_dir / f"second{suffix}").exists()
    arkit = json.loads((out_dir / "speech.arkit.json").read_text())
    assert arkit["fps"] == 60


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not audio", "not a readable audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a readable audio file"),
        (None, "no samples"),
    ],
)
def test_bad_audio_gives_one_line_and_non_zero_exit(
    app: typer.Typer, tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "bad.wav"
    if content is None:
        sf.write(path, np.zeros(0), 16000, subtype="PCM_16")
    else:
        path.write_bytes(content)
    result = _run(app, "lipsync", path)
    assert result.exit_code != 0
    errors = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(errors) == 1 and expected in errors[0] and "Traceback" not in errors[0]


def test_text_that_does_not_match_falls_back_says_so_and_still_succeeds(
    app: typer.Typer, speech_wav: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cues.json"
    wrong = "Seventeen quiet zebras examined the unusual weather forecast in Lisbon yesterday."
    result = _run(app, "lipsync", speech_wav, "--text", wrong, "-f", "json", "-o", out)
    # Like Rhubarb: the output was written, so the command succeeded; the warning tells.
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    warnings = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(warnings) == 1 and warnings[0].startswith("visavis: warning: speech.wav")
    metadata = json.loads(out.read_text())["metadata"]["visavis"]
    assert metadata["method"] == "audio" and "does not match" in metadata["fallbackReason"]


def test_strict_makes_a_fallback_an_error_and_writes_nothing(
    app: typer.Typer, speech_wav: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cues.json"
    wrong = "Seventeen quiet zebras examined the unusual weather forecast in Lisbon yesterday."
    args = ("lipsync", speech_wav, "--text", wrong, "-f", "json", "-o", out, "--strict")
    result = _run(app, *args)
    assert result.exit_code == EXIT_FALLBACK
    errors = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(errors) == 1 and errors[0].startswith("visavis: error: speech.wav")
    assert not out.exists()
    right = _run(app, "lipsync", speech_wav, "--text", TEXT, "-o", out, "--strict")
    assert right.exit_code == 0 and out.exists()  # type: ignore[attr-defined]


def test_usage_errors_are_one_line(app: typer.Typer, speech_wav: Path, tmp_path: Path) -> None:
    result = _run(app, "lipsync", speech_wav, speech_wav)
    assert result.exit_code != 0 and "--out-dir" in result.stderr  # type: ignore[attr-defined]
    result = _run(app, "lipsync", speech_wav, "--text", "a", "-d", tmp_path / "x.txt")
    assert result.exit_code != 0 and "not both" in result.stderr  # type: ignore[attr-defined]


def test_say_writes_wav_and_visemes(app: typer.Typer, tmp_path: Path) -> None:
    wav, cues = tmp_path / "hello.wav", tmp_path / "hello.json"
    result = _run(
        app, "say", "Hello. My name is Bob.", "-o", wav, "--visemes", cues, "--engine", "espeak",
        "--sample-rate", "24000",
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data, rate = sf.read(wav)
    assert rate == 24000 and len(data) > 24000
    document = json.loads(cues.read_text())
    assert document["mouthCues"][-1]["end"] == round(len(data) / rate, 2)
    assert "A" in {c["value"] for c in document["mouthCues"]}


def test_say_refuses_text_with_nothing_to_say(app: typer.Typer, tmp_path: Path) -> None:
    result = _run(app, "say", "...", "-o", tmp_path / "x.wav", "--engine", "espeak")
    assert result.exit_code != 0
    assert "nothing to say" in result.stderr  # type: ignore[attr-defined]


CJK_600 = ("我们今天讨论一下这个项目的进展情况以及下一步的计划，请大家发表意见。" * 20)[:600]


@pytest.mark.parametrize("engine", ["piper", "espeak"])
def test_say_refuses_600_cjk_characters_the_voice_cannot_speak(
    app: typer.Typer, tmp_path: Path, engine: str
) -> None:
    wav = tmp_path / "cjk.wav"
    result = _run(app, "say", CJK_600, "-o", wav, "--engine", engine)
    assert result.exit_code == 1
    stderr = result.stderr  # type: ignore[attr-defined]
    assert stderr.count("\n") == 1 and "Han script" in stderr and "cannot speak" in stderr
    assert not wav.exists(), "nothing half-written"


def test_say_speaks_what_it_can_and_warns_about_the_rest(app: typer.Typer, tmp_path: Path) -> None:
    wav = tmp_path / "mixed.wav"
    text = "Hello there. 我们今天讨论一下这个项目。 Привет, как дела? 你好世界。 Goodbye."
    result = _run(app, "say", text, "-o", wav, "--engine", "espeak")
    assert result.exit_code == EXIT_FALLBACK, result.output  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "unsupported_script" in stderr and "(and 1 more like it)" in stderr
    assert "eSpeak NG voice 'ru'" in stderr
    data, rate = sf.read(wav)
    assert 1.0 < len(data) / rate < 15.0


def test_a_long_voice_over_with_an_ad_lib_is_written_with_its_spans(
    app: typer.Typer, tmp_path: Path
) -> None:
    engine = EspeakEngine()
    lines = [
        "Please pass me the butter and the maple syrup.",
        "We walked along the river until the sun went down.",
        "My mother made a pumpkin pie for the party.",
        "Every morning he reads the paper with a cup of tea.",
    ]
    said, parts = [], []
    while sum(len(p) for p in parts) < 70 * 16000:
        line = lines[len(said) % len(lines)]
        if len(said) == 10:
            line = "Zebras and xylophones vex the quick jazz ukulele players tonight, honestly."
        parts += [engine.synthesize_sentence(line, 16000).pcm, np.zeros(9000, np.int16)]
        said.append(line)
    wav, dialog, out = tmp_path / "voice-over.wav", tmp_path / "dialog.txt", tmp_path / "o.xml"
    sf.write(wav, np.concatenate(parts), 16000, subtype="PCM_16")
    dialog.write_text("\n".join(line for i, line in enumerate(said) if i != 10))
    result = _run(app, "lipsync", wav, "-d", dialog, "-f", "xml", "-o", out, "-q")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    warning = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(warning) == 1 and "1 part(s) of the audio" in warning[0]
    root = ET.fromstring(out.read_text())
    spans = root.findall("./metadata/visavis/fallbackSpan")
    assert len(spans) == 1 and float(spans[0].get("end", 0)) > float(spans[0].get("start", 0))
    assert root.find("./metadata/visavis").get("method") == "aligned"  # type: ignore[union-attr]
    strict = _run(app, "lipsync", wav, "-d", dialog, "-o", tmp_path / "s.tsv", "--strict", "-q")
    assert strict.exit_code == EXIT_FALLBACK and not (tmp_path / "s.tsv").exists()
