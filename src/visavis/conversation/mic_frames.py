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
#: Audio may run ahead of the wall clock by this much: a client that catches up after a network
#: stall sends it at once, and dropping it would cut words out of what the person said.
MIC_BURST_S = 3.0


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
    """Refuses microphone audio that arrives faster than a microphone sends it.

    Each frame is charged its duration, and at least ``1 / max_frames_per_s`` (so tiny frames
    cannot flood the server); what is charged may run ahead of the wall clock by ``burst_s``,
    which is what a client catching up after a network stall sends at once. Time without audio
    (a silent client, push-to-talk released) is not owed: real time restarts when audio does.
    """

    def __init__(
        self, *, burst_s: float = MIC_BURST_S, max_frames_per_s: int = MIC_MAX_FRAMES_PER_S
    ):
        self.burst_s = burst_s
        self.max_frames_per_s = max_frames_per_s
        self._start: float | None = None
        self._charged_s = 0.0

    def admit(self, frame: MicFrame, now: float) -> None:
        """Count ``frame`` received at ``now`` (seconds); raises ``ProtocolError`` if too fast."""
        if self._start is None or self._charged_s < now - self._start:
            self._start, self._charged_s = now, 0.0
        charge = max(len(frame.pcm) / MIC_SAMPLE_RATE, 1 / self.max_frames_per_s)
        if self._charged_s + charge > now - self._start + self.burst_s:
            raise ProtocolError(
                "audio_too_fast",
                f"microphone audio arrives faster than real time (beyond {self.burst_s:g} s of "
                f"catching up, at most {self.max_frames_per_s} frames a second): frame dropped",
            )
        self._charged_s += charge
