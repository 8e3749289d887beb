"""Binary audio frames of the conversation WebSocket (protocol v1, see docs/protocol.md)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAGIC = b"V1"
HEADER = struct.Struct(">2sHII")
HEADER_BYTES = HEADER.size
FRAME_MS = 100


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One frame: ~100 ms of PCM16 mono of one utterance."""

    utterance_id: int
    seq: int
    pcm: bytes

    def encode(self) -> bytes:
        return HEADER.pack(MAGIC, 0, self.utterance_id, self.seq) + self.pcm

    @classmethod
    def decode(cls, data: bytes) -> AudioFrame:
        if len(data) < HEADER_BYTES:
            raise ValueError("audio frame shorter than its header")
        magic, _reserved, utterance_id, seq = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise ValueError("not a Visavis v1 audio frame")
        return cls(utterance_id=utterance_id, seq=seq, pcm=data[HEADER_BYTES:])


def split_frames(
    utterance_id: int, pcm: npt.NDArray[np.int16], sample_rate: int, frame_ms: int = FRAME_MS
) -> Iterator[AudioFrame]:
    """Cut an utterance's PCM into frames of ``frame_ms`` (the last may be shorter)."""
    step = max(1, sample_rate * frame_ms // 1000)
    raw = pcm.astype("<i2", copy=False)
    for seq, start in enumerate(range(0, len(raw), step)):
        yield AudioFrame(utterance_id, seq, raw[start : start + step].tobytes())
