"""``stream=true`` on ``POST /v1/audio/transcriptions``: the text as it is decoded, in OpenAI's
server-sent events.

The recording is cut into pieces of up to 28 s at its pauses (as ``visavis transcribe`` cuts
it) and each piece's words go out as a ``transcript.text.delta`` once decoded;
``transcript.text.done`` carries the whole text. A long recording thus shows its progress. A
failure before the first event is raised (the route answers it with its status, as without
``stream``); after it, the status is sent already, so it is an ``error`` event, which
OpenAI's SDKs raise as an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from visavis.api.event_stream import sse
from visavis.errors import VisavisError
from visavis.speech.stt.base import Pcm16, STTEngine
from visavis.speech.stt.files import each_piece, speech_pieces


async def transcription_events(
    engine: STTEngine,
    pcm: Pcm16,
    *,
    language: str | None,
    prompt: str | None,
    slack_s: float,
) -> AsyncIterator[bytes]:
    """The events of one transcription, ending with ``transcript.text.done`` or ``error``."""
    texts: list[str] = []
    sent = False
    try:
        pieces = await asyncio.to_thread(speech_pieces, pcm)
        decoded = each_piece(engine, pieces, language=language, prompt=prompt, slack_s=slack_s)
        async for _piece, part in decoded:
            text = part.text.strip()
            if text:
                yield sse("transcript.text.delta", delta=(" " if texts else "") + text)
                sent = True
                texts.append(text)
    except VisavisError as exc:
        if not sent:
            raise
        yield sse("error", error={"message": exc.message, "type": "server_error", "code": exc.code})
        return
    yield sse("transcript.text.done", text=" ".join(texts))
