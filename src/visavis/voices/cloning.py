"""Cloning a voice from its samples: one small interface, one backend per service.

Backends: ElevenLabs instant voice cloning (``elevenlabs``) and a self-hosted GPT-SoVITS
``api_v2`` server (``gptsovits``). Jobs, retries and storing the result are the caller's.
"""

from __future__ import annotations

import abc
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soundfile

from visavis.errors import VisavisError
from visavis.speech.tts.base import TTSEngine

#: ``progress(fraction 0..1, what is happening)``.
CloneProgress = Callable[[float, str], None]


class CloningError(VisavisError):
    """Base of the cloning backends' errors."""

    code = "cloning_failed"


class CloningRejected(CloningError):
    """The service refused the request (bad key, samples it won't take): retrying won't help."""

    code = "cloning_rejected"


class CloningUnavailable(CloningError):
    """The service is down, slow or rate-limited: retry later, no need to record again."""

    code = "cloning_unavailable"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class CloneRequest:
    """What a backend gets: the usable samples (16 kHz mono) and a 3-10 s reference clip."""

    name: str
    samples: Sequence[npt.NDArray[np.float32]]
    reference: npt.NDArray[np.float32]
    reference_text: str | None = None
    sample_rate: int = 16000


@dataclass(frozen=True, slots=True)
class ClonedVoice:
    """Where the cloned voice lives: the backend's name and its id there."""

    backend: str
    voice_id: str


def wav_bytes(samples: npt.NDArray[np.float32], sample_rate: int) -> bytes:
    """16-bit WAV of ``samples``."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1, 1), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


class CloningBackend(abc.ABC):
    """Makes a cloned voice from samples, and removes it."""

    name: str
    #: Whether cloning needs ``CloneRequest.reference`` (3-10 s of continuous speech).
    needs_reference: bool = True

    @abc.abstractmethod
    async def clone(
        self, request: CloneRequest, *, progress: CloneProgress | None = None
    ) -> ClonedVoice:
        """Create the voice; raises ``CloningRejected`` or ``CloningUnavailable``."""

    @abc.abstractmethod
    def speaker(self, voice_id: str) -> TTSEngine:
        """A streaming ``TTSEngine`` speaking with the cloned voice ``voice_id``."""

    @abc.abstractmethod
    async def delete(self, voice_id: str) -> None:
        """Remove the voice at the service (idempotent: a missing voice is fine)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the HTTP client; idempotent."""
