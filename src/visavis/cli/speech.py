"""``visavis lipsync`` (a drop-in for Rhubarb Lip Sync's formats) and ``visavis say``."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress

from visavis.cli.errors import fail, load_settings
from visavis.errors import VisavisError
from visavis.speech.audio import read_audio, write_wav
from visavis.speech.lipsync import LipSyncStream, VisemeTrack, animate, formats
from visavis.speech.lipsync.long_form import LONG_SECONDS
from visavis.speech.lipsync.track import MouthCue
from visavis.speech.speakable import Speakable, SpeechSkipped
from visavis.speech.tts.bounded import BoundedVoice

EXIT_FALLBACK = 3  # only with --strict: the text did not fit and nothing was written


class OutputFormat(StrEnum):
    tsv = "tsv"
    json = "json"
    xml = "xml"
    dat = "dat"
    oculus = "oculus"
    arkit = "arkit"


class EngineName(StrEnum):
    piper = "piper"
    espeak = "espeak"


_EXTENSIONS = {
    "tsv": "tsv",
    "json": "json",
    "xml": "xml",
    "dat": "dat",
    "oculus": "json",
    "arkit": "json",
}


def lipsync(
    audio: Annotated[list[Path], typer.Argument(help="WAV file(s), any common format and rate.")],
    dialog_file: Annotated[
        Path | None, typer.Option("-d", "--dialog-file", help="File with the spoken text.")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="The spoken text.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("-f", "--format", help="Output format.")] = (
        OutputFormat.tsv
    ),
    extended_shapes: Annotated[
        str,
        typer.Option("--extended-shapes", "--extendedShapes", help="Extended shapes to use."),
    ] = "GHX",
    fps: Annotated[int, typer.Option("--fps", min=1, max=1000, help="ARKit frame rate.")] = 60,
    dat_frame_rate: Annotated[
        int, typer.Option("--dat-frame-rate", "--datFrameRate", min=1, help="dat frame rate.")
    ] = 24,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output file.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Folder for one output per input.")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Fail (exit 3, nothing written) when the text does not fit the audio."
        ),
    ] = False,
) -> None:
    """Mouth cues for speech audio, in Rhubarb Lip Sync's formats (and Oculus, ARKit).

    Exit status: 0 when the output is written, even where the text did not fit and the
    audio alone was used (a warning on stderr, the spans in the metadata); 1 on bad input
    or options; 2 on options the command does not know; 3 with ``--strict`` when the text
    did not fit all of the audio (nothing written for that file).
    """
    if dialog_file is not None and text is not None:
        fail("give the text either with -d/--dialog-file or with --text, not both")
    if set(extended_shapes.upper()) - set("GHX"):
        fail(f"--extended-shapes takes letters among G, H and X, not {extended_shapes!r}")
    if len(audio) > 1 and out_dir is None:
        fail("several audio files need --out-dir")
    if output is not None and out_dir is not None:
        fail("use either -o/--output or --out-dir")
    spoken = text
    if dialog_file is not None:
        try:
            spoken = dialog_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read dialog file {dialog_file}: {exc}")
    with Progress(console=Console(stderr=True), disable=quiet) as progress:
        files = progress.add_task("lip-sync", total=len(audio), visible=len(audio) > 1)
        for path in audio:
            track = _animate_file(path, spoken, extended_shapes, progress)
            if track.fallback_reason is not None:
                if strict:
                    fail(
                        f"{path.name}: {_fallback_line(track)} (--strict: nothing written)",
                        exit_code=EXIT_FALLBACK,
                    )
                progress.console.print(
                    f"visavis: warning: {path.name}: {_fallback_line(track)}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
            body = formats.render(
                track, fmt.value, sound_file=str(path), fps=fps, dat_fps=dat_frame_rate
            )
            target = output if out_dir is None else out_dir / f"{path.stem}{_suffix(fmt)}"
            _write(target, body)
            progress.advance(files)


def _fallback_line(track: VisemeTrack) -> str:
    """The warning for a track whose text was not (all) used."""
    if track.metadata.get("fallback_spans") and track.method == "aligned":
        return str(track.fallback_reason)
    return f"text ignored, audio-only analysis used ({track.fallback_reason})"


def _suffix(fmt: OutputFormat) -> str:
    if fmt in (OutputFormat.oculus, OutputFormat.arkit):
        return f".{fmt.value}.json"
    return f".{_EXTENSIONS[fmt.value]}"


def _animate_file(
    path: Path, text: str | None, extended_shapes: str, progress: Progress
) -> VisemeTrack:
    try:
        pcm, rate = read_audio(path)
        task = None
        if len(pcm) / rate > LONG_SECONDS:
            # Long recordings show how far the analysis is, in seconds of audio.
            task = progress.add_task(path.name, total=len(pcm) / rate)

        def advance(done: float, total: float) -> None:
            if task is not None:
                progress.update(task, completed=done, total=total)

        track = animate(
            pcm, rate, text=text, extended_shapes=extended_shapes.upper(), progress=advance
        )
        if task is not None:
            progress.remove_task(task)
        return track
    except VisavisError as exc:
        fail(exc.message)


def _write(target: Path | None, body: str) -> None:
    if target is None:
        sys.stdout.write(body)
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}")


def say(
    text: Annotated[str, typer.Argument(help="What to say.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="WAV file to write.")],
    visemes: Annotated[
        Path | None,
        typer.Option("--visemes", help="Also write mouth cues (.json Rhubarb, .tsv or .xml)."),
    ] = None,
    engine: Annotated[EngineName, typer.Option("--engine", help="Voice engine.")] = (
        EngineName.piper
    ),
    voice: Annotated[
        str | None,
        typer.Option("--voice", help="Piper .onnx path or eSpeak voice name (e.g. en-us+f3)."),
    ] = None,
    rate: Annotated[float, typer.Option("--rate", help="Speaking speed (0.25-4).")] = 1.0,
    pitch: Annotated[float, typer.Option("--pitch", help="Voice pitch (0.5-2).")] = 1.0,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Output rate (default: the voice's).")
    ] = None,
) -> None:
    """Speak text to a WAV file, optionally with its mouth cues.

    Within the speech bounds (VISAVIS_TTS_MAX_*): text in a script the voice cannot speak goes
    to an eSpeak NG voice that can, or is left out with a warning (exit status 3).
    """
    notes: list[str] = []
    try:
        pcm, out_rate, track = asyncio.run(
            _speak(
                _engine(engine, voice),
                text,
                sample_rate=sample_rate,
                rate=rate,
                pitch=pitch,
                notes=notes,
            )
        )
    except VisavisError as exc:
        fail(exc.message)
    try:
        write_wav(output, pcm, out_rate)
    except (OSError, RuntimeError) as exc:
        fail(f"cannot write {output}: {exc}")
    if visemes is not None:
        suffix = visemes.suffix.lower()
        if suffix == ".tsv":
            body = formats.to_tsv(track)
        elif suffix == ".xml":
            body = formats.to_xml(track, str(output))
        else:
            body = formats.to_rhubarb_json(track, str(output))
        _write(visemes, body)
    _warn(notes)
    if any(not note.startswith("spoken with") for note in notes):
        raise typer.Exit(EXIT_FALLBACK)


def _warn(notes: list[str]) -> None:
    """Each kind of note once, with how many more of its kind there were."""
    kinds: dict[str, list[str]] = {}
    for note in notes:
        kinds.setdefault(note.split(":", 1)[0], []).append(note)
    for same in kinds.values():
        more = f" (and {len(same) - 1} more like it)" if len(same) > 1 else ""
        typer.echo(f"visavis: warning: {same[0]}{more}", err=True)


def _engine(name: EngineName, voice: str | None) -> BoundedVoice:
    from visavis.components import bound_voice
    from visavis.speech.tts.espeak import EspeakEngine

    settings = load_settings()
    if name is EngineName.espeak:
        return bound_voice(EspeakEngine(voice=voice or "en-us"), voice or "en-us", settings)
    from visavis.speech.tts.piper import PiperEngine, PiperVoicePaths

    paths = PiperVoicePaths.from_model(voice) if voice else None
    piper = PiperEngine(
        voice=paths, first_chunk_words=None, max_sentence_s=settings.tts_max_sentence_s
    )
    return bound_voice(piper, piper.language, settings)


async def _speak(
    engine: BoundedVoice,
    text: str,
    *,
    sample_rate: int | None,
    rate: float,
    pitch: float,
    notes: list[str],
) -> tuple[np.ndarray, int, VisemeTrack]:
    stream = LipSyncStream()
    pieces: list[np.ndarray] = []
    cues: list[MouthCue] = []
    out_rate = sample_rate or engine.native_sample_rate

    def skipped(notice: SpeechSkipped) -> None:
        shown = notice.text if len(notice.text) <= 40 else notice.text[:37] + "..."
        notes.append(f"left out ({notice.reason.value}: {notice.message}): {shown!r}")

    def fallback(said: Speakable) -> None:
        notes.append(
            f"spoken with the eSpeak NG voice {said.voice!r} ({said.script.title()} script): "
            f"{said.text[:40]!r}"
        )

    try:
        async for chunk in engine.synthesize_reply(
            text,
            sample_rate=sample_rate,
            rate=rate,
            pitch=pitch,
            on_skip=skipped,
            on_fallback=fallback,
        ):
            out_rate = chunk.sample_rate
            offset = stream.offset
            track = await stream.apush(chunk)
            cues += [
                MouthCue(c.start + offset, c.end + offset, c.shape, c.viseme) for c in track.cues
            ]
            pieces.append(chunk.pcm)
    finally:
        await engine.aclose()
    pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    duration = len(pcm) / out_rate
    return (
        pcm,
        out_rate,
        VisemeTrack(tuple(cues), duration, {"method": "phones", "fallback_reason": None}),
    )


def register(app: typer.Typer) -> None:
    """Add ``lipsync`` and ``say`` to the root ``visavis`` app."""
    app.command("lipsync")(lipsync)
    app.command("say")(say)
