"""The one path by which our own voice drives a provider's face (LiveAvatar LITE, Simli).

A provider supplies an :class:`AudioChannel` per session (its socket: send a chunk, end an
utterance, interrupt, keep alive, close) and an :class:`AudioChunking` (rate and chunk sizes);
:class:`AudioStreamingProvider` does the rest once for all of them: resampling any input rate
to the provider's, cutting the first chunk short (the face starts sooner) and the others at
the steady size, utterance ids, interruption, and ``speak(text)`` through our TTS.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

import numpy as np

from visavis.avatars.base import (
    AudioDrivenProvider,
    DataSink,
    FaceListener,
    ProviderSession,
    SpeakResult,
)
from visavis.avatars.errors import ProviderSessionStateError
from visavis.speech.tts.base import TTSEngine


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioChunking:
    """How a provider wants its audio: PCM16 mono at ``sample_rate``, in chunks of
    ``first_chunk_ms`` (the first of an utterance) and then ``chunk_ms``."""

    sample_rate: int
    first_chunk_ms: int
    chunk_ms: int

    def chunk_bytes(self, *, first: bool) -> int:
        """Bytes of one chunk (whole samples)."""
        ms = self.first_chunk_ms if first else self.chunk_ms
        return self.sample_rate * ms // 1000 * 2


class AudioChannel(abc.ABC):
    """One session's connection to an audio-driven face (a provider's socket)."""

    @abc.abstractmethod
    async def send_audio(self, utterance_id: str, pcm: bytes) -> None:
        """Send one chunk of the utterance (PCM16 at the provider's rate)."""

    @abc.abstractmethod
    async def end_utterance(self, utterance_id: str) -> None:
        """Tell the face the utterance is complete (it plays what it has)."""

    @abc.abstractmethod
    async def interrupt(self, utterance_id: str | None) -> None:
        """Make the face stop speaking and drop what it buffered."""

    @abc.abstractmethod
    async def keep_alive(self) -> None:
        """Reset the provider's idle timer."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection; idempotent."""

    @abc.abstractmethod
    def set_listener(self, listener: FaceListener | None) -> None:
        """Where the channel reports the face's events."""


class LinearResampler:
    """Streaming PCM16 resampler: linear interpolation whose phase carries across chunks.

    Cheap and exact at chunk boundaries; when it lowers the rate a short moving average
    first takes off what would alias (speech has little energy there).
    """

    def __init__(self, source_rate: int, target_rate: int) -> None:
        if source_rate <= 0 or target_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.source_rate = source_rate
        self.target_rate = target_rate
        self._step = source_rate / target_rate
        self._position = 0.0  # the next output sample, in input samples from _last
        self._last: float | None = None
        self._taps = max(1, round(self._step)) if source_rate > target_rate else 1
        self._history = np.zeros(self._taps - 1, dtype=np.float64)

    def process(self, pcm: bytes) -> bytes:
        """Resample ``pcm`` (PCM16 mono); returns what is ready of the output."""
        if self.source_rate == self.target_rate:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if samples.size == 0:
            return b""
        if self._taps > 1:
            padded = np.concatenate([self._history, samples])
            self._history = padded[-(self._taps - 1) :]
            samples = np.convolve(padded, np.full(self._taps, 1 / self._taps), mode="valid")
        signal = samples if self._last is None else np.concatenate([[self._last], samples])
        end = signal.size - 1
        positions = np.arange(self._position, end + 1e-9, self._step)
        if positions.size:
            out = np.interp(positions, np.arange(signal.size), signal)
            self._position = positions[-1] + self._step - end
        else:
            out = np.zeros(0)
            self._position -= end
        self._last = float(signal[-1])
        return bytes(np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes())


@dataclass
class _Utterance:
    utterance_id: str
    buffer: bytearray = field(default_factory=bytearray)
    sent_bytes: int = 0
    chunks: int = 0
    resampler: LinearResampler | None = None


@dataclass
class _AudioSession:
    channel: AudioChannel
    utterance: _Utterance | None = None


class AudioStreamingProvider(AudioDrivenProvider):
    """An :class:`AudioDrivenProvider` over per-session :class:`AudioChannel` objects.

    Subclasses open the channel in ``start`` and register it with :meth:`attach_channel`;
    ``stop`` calls :meth:`detach_channel`. ``tts`` is the voice ``speak(text)`` uses.
    """

    chunking: AudioChunking

    def __init__(self, *, tts: TTSEngine | None) -> None:
        self.tts = tts
        self._audio: dict[str, _AudioSession] = {}

    @property
    def audio_sample_rate(self) -> int:  # type: ignore[override]
        return self.chunking.sample_rate

    # --- channels ------------------------------------------------------------------
    def attach_channel(self, session_id: str, channel: AudioChannel) -> None:
        """The session's channel is open: audio may flow."""
        self._audio[session_id] = _AudioSession(channel)

    async def detach_channel(self, session_id: str) -> bool:
        """Forget and close the session's channel; whether there was one."""
        state = self._audio.pop(session_id, None)
        if state is None:
            return False
        await state.channel.close()
        return True

    def has_channel(self, session_id: str) -> bool:
        """Whether this process holds the session's open channel."""
        return session_id in self._audio

    def channel_of(self, session: ProviderSession) -> AudioChannel:
        """The session's open channel, or a state error (not started here, or stopped)."""
        return self._state(session).channel

    def _state(self, session: ProviderSession) -> _AudioSession:
        state = self._audio.get(session.session_id)
        if state is None:
            raise ProviderSessionStateError(
                f"session {session.session_id} has no open audio channel in this process",
                provider=self.name,
            )
        return state

    # --- the audio-driven interface --------------------------------------------------
    async def begin_utterance(self, session: ProviderSession) -> str:
        state = self._state(session)
        if state.utterance is not None and state.utterance.sent_bytes:
            await self.end_utterance(session)
        state.utterance = _Utterance(utterance_id=str(uuid.uuid4()))
        return state.utterance.utterance_id

    async def push_audio(self, session: ProviderSession, pcm: bytes, sample_rate: int) -> None:
        state = self._state(session)
        utterance = state.utterance
        if utterance is None:
            raise ProviderSessionStateError(
                "push_audio needs begin_utterance first", provider=self.name
            )
        if len(pcm) % 2:
            raise ValueError("PCM16 audio has an even number of bytes")
        if sample_rate != self.chunking.sample_rate:
            if utterance.resampler is None or utterance.resampler.source_rate != sample_rate:
                utterance.resampler = LinearResampler(sample_rate, self.chunking.sample_rate)
            pcm = utterance.resampler.process(pcm)
        utterance.buffer += pcm
        while len(utterance.buffer) >= (
            size := self.chunking.chunk_bytes(first=utterance.chunks == 0)
        ):
            chunk = bytes(utterance.buffer[:size])
            del utterance.buffer[:size]
            await self._send(state, utterance, chunk)

    async def end_utterance(self, session: ProviderSession) -> float:
        state = self._state(session)
        utterance, state.utterance = state.utterance, None
        if utterance is None:
            return 0.0
        if utterance.buffer:
            await self._send(state, utterance, bytes(utterance.buffer))
            utterance.buffer.clear()
        if utterance.chunks:
            await state.channel.end_utterance(utterance.utterance_id)
        return utterance.sent_bytes / 2 / self.chunking.sample_rate

    async def _send(self, state: _AudioSession, utterance: _Utterance, chunk: bytes) -> None:
        await state.channel.send_audio(utterance.utterance_id, chunk)
        utterance.sent_bytes += len(chunk)
        utterance.chunks += 1

    async def interrupt(self, session: ProviderSession, *, sink: DataSink | None = None) -> None:
        """Drop unsent audio and stop the face (the sink is unused: no browser relay)."""
        state = self._audio.get(session.session_id)
        if state is None:
            return
        utterance, state.utterance = state.utterance, None
        await state.channel.interrupt(utterance.utterance_id if utterance else None)

    def set_listener(self, session: ProviderSession, listener: FaceListener | None) -> None:
        self._state(session).channel.set_listener(listener)

    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        """Synthesize ``text`` with our voice and stream it as one utterance."""
        if self.tts is None:
            raise ProviderSessionStateError(
                f"{self.name} is audio-driven and was built without a voice", provider=self.name
            )
        await self.begin_utterance(session)
        async for chunk in self.tts.synthesize(text, sample_rate=self.chunking.sample_rate):
            await self.push_audio(session, chunk.pcm.astype("<i2").tobytes(), chunk.sample_rate)
        seconds = await self.end_utterance(session)
        return SpeakResult(duration_ms=seconds * 1000)

    async def keep_alive(self, session: ProviderSession) -> None:
        await self._state(session).channel.keep_alive()

    async def close_channels(self) -> None:
        """Close every channel (at shutdown); idempotent."""
        for session_id in list(self._audio):
            await self.detach_channel(session_id)
