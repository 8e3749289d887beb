"""Speech that streams (``POST /v1/audio/speech``): ``pcm`` is sent chunk by chunk as it is
synthesized, and ``stream_format: "sse"`` sends OpenAI's ``speech.audio.delta`` events (base64
audio) and then ``speech.audio.done``.

Raw PCM concatenates, so it streams as it comes; a file format (wav, mp3, ...) needs the whole
audio for its header or its encoder, so it comes whole, in one delta. A failure once the first
part is out can no longer change the status: a raw stream is cut off (the client sees an
incomplete answer), an event stream ends with an ``error`` event.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import numpy as np

from visavis.api.event_stream import sse
from visavis.errors import VisavisError
from visavis.speech.encode import AudioFormat, encode_audio
from visavis.speech.tts.base import AudioChunk


async def pcm_bytes(chunks: AsyncIterator[AudioChunk]) -> AsyncIterator[bytes]:
    """Each chunk's samples, little-endian 16-bit, as they come."""
    async for chunk in chunks:
        yield chunk.pcm.astype("<i2").tobytes()


async def speech_events(
    chunks: AsyncIterator[AudioChunk], fmt: AudioFormat, sample_rate: int
) -> AsyncIterator[bytes]:
    """``speech.audio.delta`` events, then ``speech.audio.done`` (or ``error``)."""
    sent = False
    try:
        if fmt == "pcm":
            async for audio in pcm_bytes(chunks):
                yield _delta(audio)
                sent = True
        else:
            pieces = [chunk.pcm async for chunk in chunks]
            whole = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
            yield _delta(await asyncio.to_thread(encode_audio, whole, sample_rate, fmt))
            sent = True
    except VisavisError as exc:
        if not sent:
            raise
        yield sse("error", error={"message": exc.message, "type": "server_error", "code": exc.code})
        return
    # The instance bills no tokens; the fields are there for clients that expect them.
    yield sse("speech.audio.done", usage={"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})


def _delta(audio: bytes) -> bytes:
    return sse("speech.audio.delta", audio=base64.b64encode(audio).decode("ascii"))
