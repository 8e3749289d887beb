"""The person's microphone on the conversation WebSocket (docs/protocol.md, "Microphone
frames"): the binary frame's ``M1`` header, its checks, and the gate that refuses audio
arriving faster than a microphone sends it."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from visavis.conversation.protocol_error import ProtocolError

MIC_MAGIC = b"M1"
MIC_HEADER = struct.Struct(">2sHI")  # magic, reserved (0), sequence number
MIC_HEADER_BYTES = MIC_HEADER.size
MIC_SAMPLE_RATE = 16000
MIC_FORMAT = {"format": "pcm_s16le", "sample_rate": MIC_SAMPLE_RATE}
MIC_MAX_FRAME_MS = 100
MIC_MAX_FRAMES_PER_S = 100
#: Audio may run ahead of the wall clock by this much (a network hiccup delivers a burst).
MIC_BURST_S = 1.0


@dataclass(frozen=True, slots=True)
class MicFrame:
    """One binary frame of the person's microphone: PCM16 LE, 16 kHz, mono."""

    seq: int
    pcm: npt.NDArray[np.int16]

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) * 1000 / MIC_SAMPLE_RATE


def encode_mic_frame(seq: int, pcm: npt.NDArray[np.int16] | bytes) -> bytes:
    """A client's microphone frame: the ``M1`` header, then PCM16 LE samples."""
    raw = pcm if isinstance(pcm, bytes) else pcm.astype("<i2", copy=False).tobytes()
    return MIC_HEADER.pack(MIC_MAGIC, 0, seq & 0xFFFFFFFF) + raw


def parse_mic_frame(data: bytes) -> MicFrame:
    """One binary frame from the client, checked; raises ``ProtocolError``."""
    if len(data) < MIC_HEADER_BYTES or data[:2] != MIC_MAGIC:
        raise ProtocolError(
            "invalid_audio_frame",
            "binary frames are microphone audio: an 8-byte header starting with 'M1'",
        )
    _magic, _reserved, seq = MIC_HEADER.unpack_from(data)
    body = data[MIC_HEADER_BYTES:]
    if not body or len(body) % 2:
        raise ProtocolError(
            "invalid_audio_frame", "a microphone frame holds whole 16-bit samples (even length)"
        )
    if len(body) > MIC_SAMPLE_RATE * 2 * MIC_MAX_FRAME_MS // 1000:
        raise ProtocolError(
            "audio_frame_too_long",
            f"a microphone frame holds at most {MIC_MAX_FRAME_MS} ms (send 20–40 ms frames)",
        )
    return MicFrame(seq=seq, pcm=np.frombuffer(body, dtype="<i2").astype(np.int16))


class MicRateGate:
    """Refuses microphone audio that arrives faster than real time (past a small burst) or in
    more frames per second than a microphone sends."""

    def __init__(
        self, *, burst_s: float = MIC_BURST_S, max_frames_per_s: int = MIC_MAX_FRAMES_PER_S
    ):
        self.burst_s = burst_s
        self.max_frames_per_s = max_frames_per_s
        self._start: float | None = None
        self._audio_s = 0.0
        self._recent: list[float] = []

    def admit(self, frame: MicFrame, now: float) -> None:
        """Count ``frame`` received at ``now`` (seconds); raises ``ProtocolError`` if too fast."""
        self._recent = [t for t in self._recent if now - t < 1.0]
        if len(self._recent) >= self.max_frames_per_s:
            raise ProtocolError(
                "audio_too_fast", f"at most {self.max_frames_per_s} microphone frames a second"
            )
        if self._start is None or self._audio_s < now - self._start:
            # Idle (or push-to-talk released) time is not owed: real time restarts here.
            self._start, self._audio_s = now, 0.0
        seconds = len(frame.pcm) / MIC_SAMPLE_RATE
        if self._audio_s + seconds > now - self._start + self.burst_s:
            raise ProtocolError(
                "audio_too_fast", "microphone audio arrives faster than real time: frame dropped"
            )
        self._audio_s += seconds
        self._recent.append(now)
