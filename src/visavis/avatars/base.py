"""The avatar provider interface: sessions at a provider, and speech through them.

A provider declares its limits and its billing rule; the conversation pipeline reads them and
never hard-codes them. Providers know nothing of HTTP routes or the database.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from visavis.tenancy.costs import BillingRule

#: Sends one ready-made data-channel message through the browser (Akool's data stream).
DataSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderLimits:
    """What a provider accepts; ``None`` means no limit of that kind."""

    message_bytes: int | None = None
    bytes_per_second: int | None = None
    idle_timeout_s: float | None = None
    max_session_s: float | None = None
    #: How often to keep an idle session alive (safely below ``idle_timeout_s``).
    keep_alive_interval_s: float | None = None
    #: Roughly how long the avatar speaks one character, to place speech on the timeline
    #: when the provider does not say.
    ms_per_char: float = 65.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRequest:
    """What a conversation asks of a provider session."""

    avatar_id: str | None
    quality: str | None = None
    voice_id: str | None = None
    language: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderSession:
    """A live session at a provider, and what the browser needs to show it."""

    provider: str
    session_id: str
    #: The browser's media connection (LiveKit/Agora fields), never logged.
    media: Mapping[str, Any] | None = field(default=None, repr=False)
    #: When the provider will end the session by itself, and that maximum length.
    expires_at: datetime | None = None
    max_duration_s: float | None = None
    #: Where the server's own control channel to the session connects (LiveAvatar LITE's
    #: ``ws_url``): any instance that takes the conversation over opens it there. Stored
    #: encrypted with the browser credentials, never sent to the browser.
    channel_url: str | None = field(default=None, repr=False)
    #: Seconds asked of (and pre-charged by) the provider, where that applies.
    requested_duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class SpeakResult:
    """How long the avatar will speak the text, when the provider says."""

    duration_ms: float | None = None
    #: The provider's id of the utterance, when its speak events (relayed by the browser)
    #: will name it: they then time the utterance instead of ``duration_ms`` or an estimate.
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A session the provider reports as open (for reconciliation)."""

    session_id: str
    status: str | None = None
    created_at: datetime | None = None


class AvatarProvider(abc.ABC):
    """One avatar provider; one instance serves every conversation of the process."""

    name: str
    limits: ProviderLimits
    billing: BillingRule

    @abc.abstractmethod
    async def create_session(self, request: SessionRequest) -> ProviderSession:
        """Open a session (the provider may start billing now)."""

    @abc.abstractmethod
    async def start(self, session: ProviderSession) -> None:
        """Make the session ready to speak (connect, or wait until the provider is ready)."""

    @abc.abstractmethod
    async def speak(self, session: ProviderSession, text: str, *, sink: DataSink) -> SpeakResult:
        """Have the avatar say ``text`` (≤ ``limits.message_bytes`` when set)."""

    @abc.abstractmethod
    async def interrupt(self, session: ProviderSession, *, sink: DataSink) -> None:
        """Stop the avatar mid-sentence."""

    @abc.abstractmethod
    async def keep_alive(self, session: ProviderSession) -> None:
        """Tell the provider the session is still in use."""

    @abc.abstractmethod
    async def stop(self, session_id: str) -> bool:
        """Close the session; idempotent (``False`` when it was already closed or unknown)."""

    @abc.abstractmethod
    async def list_active(self) -> list[ActiveSession]:
        """Sessions the provider holds open for our account (reconciliation)."""

    def relayed_event(self, data: str) -> FaceEvent | None:
        """A packet the browser forwarded from the provider's room, as a face event (None when
        it is not one this provider follows)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - providers without clients hold nothing
        """Release the HTTP client; idempotent."""


@dataclass(frozen=True, slots=True)
class AvatarInfo:
    """One avatar a provider offers (the catalogue tenants pick their default from)."""

    provider: str
    avatar_id: str
    name: str
    preview_url: str | None = None


class AvatarCatalogue(abc.ABC):
    """A provider that can list the avatars it offers."""

    @abc.abstractmethod
    async def list_avatars(self) -> list[AvatarInfo]:
        """The avatars this account may use (one call, or a bounded number of pages)."""


#: What a face reports about our audio: ``speak_started``, ``speak_ended``,
#: ``speak_interrupted``, ``closed`` (the provider ended the session; ``detail`` says why).
FaceEventKind = str


@dataclass(frozen=True, slots=True)
class FaceEvent:
    """One event of an audio-driven face, stamped on ``time.monotonic``."""

    kind: FaceEventKind
    utterance_id: str | None
    at: float
    detail: str | None = None


FaceListener = Callable[[FaceEvent], None]


class AudioDrivenProvider(AvatarProvider):
    """A face that lip-syncs audio we produce (our TTS): LiveAvatar LITE, Simli.

    One utterance (a sentence, or several) is ``begin_utterance``, any number of
    ``push_audio`` calls as the voice produces PCM, then ``end_utterance``. ``interrupt``
    drops what was not sent, tells the provider to stop, and ends the utterance; pushing
    after it needs a new ``begin_utterance``. Audio may arrive at any sample rate: it is
    resampled to ``audio_sample_rate`` and cut into the provider's chunk sizes. ``speak``
    (text) synthesizes with the voice given at construction and goes the same path.
    """

    #: The rate the provider wants (24000 LiveAvatar, 16000 Simli), PCM16 mono.
    audio_sample_rate: int

    @property
    def takes_audio(self) -> bool:
        """Whether this instance is driven by our audio (LiveAvatar in FULL mode is not)."""
        return True

    @abc.abstractmethod
    async def begin_utterance(self, session: ProviderSession) -> str:
        """Start an utterance; returns its id (LiveAvatar's ``event_id``)."""

    @abc.abstractmethod
    async def push_audio(self, session: ProviderSession, pcm: bytes, sample_rate: int) -> None:
        """Send PCM16 mono little-endian ``pcm`` at ``sample_rate`` (chunked as the provider
        wants; what does not fill a chunk yet waits for more or for ``end_utterance``)."""

    @abc.abstractmethod
    async def end_utterance(self, session: ProviderSession) -> float:
        """Flush and close the utterance; returns the seconds of audio it carried."""

    @abc.abstractmethod
    def set_listener(self, session: ProviderSession, listener: FaceListener | None) -> None:
        """Be told of the face's events for this session (``None`` stops it)."""


def audio_driven(provider: AvatarProvider) -> AudioDrivenProvider | None:
    """``provider`` when our audio drives it (push audio to it), else None (it speaks text)."""
    if isinstance(provider, AudioDrivenProvider) and provider.takes_audio:
        return provider
    return None
