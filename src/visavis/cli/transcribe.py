"""``visavis transcribe``: speech in audio files to text, JSON (with word times), SRT or VTT."""

from __future__ import annotations

import asyncio
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from visavis.cli.errors import fail, load_settings
from visavis.errors import VisavisError
from visavis.speech.decode import decode_audio
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt import STTEngine, Transcript, build_stt_engine
from visavis.speech.stt.files import Piece, speech_pieces, transcribe_pieces
from visavis.speech.stt.formats import render, verbose
from visavis.stt_settings import stt_options


class TranscriptFormat(StrEnum):
    txt = "txt"
    json = "json"
    srt = "srt"
    vtt = "vtt"


class EngineChoice(StrEnum):
    faster_whisper = "faster-whisper"
    moonshine = "moonshine"
    openai = "openai"


def transcribe(
    audio: Annotated[
        list[Path], typer.Argument(help="Audio files: WAV, FLAC, OGG, WebM/Opus, MP3, M4A.")
    ],
    fmt: Annotated[TranscriptFormat, typer.Option("-f", "--format", help="Output format.")] = (
        TranscriptFormat.txt
    ),
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Folder for one output per input.")
    ] = None,
    engine: Annotated[
        EngineChoice | None,
        typer.Option("--engine", help="Recognizer (default: VISAVIS_STT_ENGINE)."),
    ] = None,
    language: Annotated[str | None, typer.Option("--language", help="e.g. en")] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            "--prompt",
            help="Names and terms the audio is likely to hold, to spell them right "
            "(e.g. 'Siobhan Nakamura, Kubernetes').",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
) -> None:
    """Transcribe speech in audio files (offline by default)."""
    if len(audio) > 1 and out_dir is None:
        fail("several audio files need --out-dir")
    settings = load_settings()
    if engine is not None:
        settings = settings.model_copy(update={"stt_engine": engine.value})
    options = stt_options(settings, files=True)
    recognizer = build_stt_engine(options, scheduler=DeadlineScheduler(1))
    try:
        asyncio.run(
            _run(
                recognizer,
                audio,
                fmt,
                out_dir,
                language,
                quiet,
                settings.stt_max_audio_s,
                prompt=prompt,
            )
        )
    except VisavisError as exc:
        fail(exc.message)


async def _run(
    recognizer: STTEngine,
    paths: list[Path],
    fmt: TranscriptFormat,
    out_dir: Path | None,
    language: str | None,
    quiet: bool,
    max_audio_s: float,
    *,
    prompt: str | None = None,
) -> None:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )
    try:
        with progress:
            for path in paths:
                task = progress.add_task(path.name, total=None)
                pcm = await asyncio.to_thread(decode_audio, path, max_seconds=max_audio_s)
                pieces = await asyncio.to_thread(speech_pieces, pcm)
                progress.update(task, total=max(len(pcm) / 16000, 0.01))

                def advance(piece: Piece, task: TaskID = task) -> None:
                    progress.update(task, completed=piece.end)

                transcript = await transcribe_pieces(
                    recognizer, pcm, pieces, language=language, prompt=prompt, on_piece=advance
                )
                progress.update(task, completed=len(pcm) / 16000)
                target = None if out_dir is None else out_dir / f"{path.stem}.{fmt.value}"
                _write(target, _body(transcript, fmt))
    finally:
        await recognizer.aclose()


def _body(transcript: Transcript, fmt: TranscriptFormat) -> str:
    if fmt is TranscriptFormat.json:
        return json.dumps(verbose(transcript), ensure_ascii=False, indent=2) + "\n"
    if fmt is TranscriptFormat.txt:
        return render(transcript, "text")
    return render(transcript, fmt.value)  # type: ignore[arg-type]  # srt, vtt


def _write(target: Path | None, body: str) -> None:
    if target is None:
        sys.stdout.write(body)
        return
    partial = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(body, encoding="utf-8")
        partial.replace(target)  # never a half-written transcript under the real name
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"cannot write {target}: {exc.strerror or exc}")
