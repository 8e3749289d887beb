"""Any common audio upload (WAV, FLAC, OGG/Opus, WebM/Opus from browsers, MP3, M4A) to PCM.

Decoded with PyAV (FFmpeg's libraries, bundled in its wheel). The container's declared
length is checked before decoding, so a two-hour upload is refused at once.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from visavis.errors import InvalidInputError

ANALYSIS_RATE = 16000


class UnreadableAudio(InvalidInputError):
    """The upload is not audio we can decode, or is far too long."""

    code = "unreadable_audio"


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Mono float32 audio at ``ANALYSIS_RATE``, and what the file itself was."""

    samples: npt.NDArray[np.float32]
    source_rate: int
    codec: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / ANALYSIS_RATE


def decode(data: bytes, *, max_seconds: float) -> DecodedAudio:
    """Decode ``data`` to 16 kHz mono; ``UnreadableAudio`` with a reason a person can act on."""
    if not data:
        raise UnreadableAudio("the upload is empty: record the sample again")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise UnreadableAudio("the file has no audio track")
            stream = streams[0]
            declared = container.duration / 1_000_000 if container.duration else None
            if declared is not None and declared > max_seconds:
                length = f"{declared / 60:.0f} min" if declared >= 120 else f"{declared:.0f} s"
                raise UnreadableAudio(
                    f"the recording is {length} long; a sample should be about 30 s "
                    f"(at most {max_seconds:.0f} s)"
                )
            resampler = av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE)
            parts: list[npt.NDArray[np.float32]] = []
            decoded = 0
            for frame in container.decode(stream):
                if not isinstance(frame, av.AudioFrame):
                    continue
                for out in resampler.resample(frame):
                    part = out.to_ndarray().reshape(-1).astype(np.float32)
                    parts.append(part)
                    decoded += len(part)
                if decoded > max_seconds * ANALYSIS_RATE:
                    raise UnreadableAudio(
                        f"the recording is longer than {max_seconds:.0f} s; a sample should "
                        "be about 30 s"
                    )
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1).astype(np.float32))
            rate = int(getattr(stream.codec_context, "sample_rate", 0) or 0)
            codec = str(stream.codec_context.name)
    except av.error.FFmpegError as exc:
        raise UnreadableAudio(
            "the file is not audio we can read (corrupt, or an unknown format): record it "
            "again, or upload WAV, FLAC, OGG, WebM/Opus, MP3 or M4A"
        ) from exc
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    if not len(samples):
        raise UnreadableAudio("the file holds no sound: record the sample again")
    return DecodedAudio(samples=samples, source_rate=rate, codec=codec)
