"""What the conformance suite needs of each provider and its fake, one adapter per provider.

An adapter builds the provider against its fake (a fresh instance stands for a fresh process),
hands out the sink the browser would be (text-driven providers) and reads back from the fake
what the face received. A new provider joins the suite with one adapter here.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from tests.avatars.relay import BrowserRelay
from tests.avatars.tone_voice import ToneVoice
from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider
from visavis.avatars.base import AvatarProvider, DataSink, SessionRequest
from visavis.avatars.liveavatar.api import LiveAvatarAPI
from visavis.avatars.liveavatar.provider import LiveAvatarOptions, LiveAvatarProvider
from visavis.avatars.simli.api import SimliAPI
from visavis.avatars.simli.provider import SimliProvider
from visavis.avatars.tavus.api import TavusAPI
from visavis.avatars.tavus.provider import TavusOptions, TavusProvider

MS_PER_CHAR = 60.0  # the tone voice's pace


async def audio_only(message: str) -> None:
    raise AssertionError(f"an audio-driven face relays nothing through the browser: {message!r}")


@dataclass
class Adapter(abc.ABC):
    """One provider under test, with its fake (a ``RunningFake``)."""

    server: Any

    request = SessionRequest(avatar_id=None)
    #: What a 90-second session costs under the provider's billing rule (micro-USD).
    cost_of_90_s: ClassVar[int]
    #: Whether a session outlives a crash of our process (else it ends with its socket).
    survives_crash = True

    @abc.abstractmethod
    def build(self) -> AvatarProvider:
        """A fresh provider instance, as a new process would build it."""

    def sink(self, session_id: str) -> DataSink:
        return audio_only

    @property
    def fake(self) -> Any:
        return self.server.fake

    def open_at_fake(self, session_id: str) -> bool:
        return any(self.session_key(s) == session_id for s in self.fake.open_sessions())

    def session_key(self, held: dict[str, Any]) -> str:
        return str(held.get("session_id"))

    def held(self, session_id: str) -> dict[str, Any]:
        (found,) = [s for s in self.fake.all_sessions() if self.session_key(s) == session_id]
        return dict(found)

    @abc.abstractmethod
    def assert_spoke(self, session_id: str, sentences: list[str]) -> None:
        """The face received exactly these sentences (their text, or their audio)."""

    @abc.abstractmethod
    def interrupted(self, session_id: str) -> bool:
        """The face was told to stop."""

    def kept_alive(self, session_id: str) -> bool:
        """The fake saw the keep-alive (providers without an idle timeout: always)."""
        return True

    def advance(self, seconds: float) -> None:
        self.server.configure(advance_clock_s=seconds)


class LiveAvatarLite(Adapter):
    cost_of_90_s = 2 * 100_000  # two started minutes, 1 credit each at $0.10

    def build(self) -> AvatarProvider:
        api = LiveAvatarAPI(api_key="test-liveavatar-key", base_url=self.server.base_url)
        return LiveAvatarProvider(api, LiveAvatarOptions(), tts=ToneVoice(ms_per_char=MS_PER_CHAR))

    request = SessionRequest(avatar_id="0d8a6d4e-4b1e-4c55-9a0b-6a3c1f1e2a01")

    def assert_spoke(self, session_id: str, sentences: list[str]) -> None:
        utterances = self.held(session_id)["utterances"]
        seconds = [u["seconds"] for u in utterances]
        assert seconds == pytest.approx([len(s) * MS_PER_CHAR / 1000 for s in sentences], abs=0.01)
        assert all(u["ended"] for u in utterances)
        assert self.held(session_id)["violations"] == []

    def interrupted(self, session_id: str) -> bool:
        return any(u["interrupted"] for u in self.held(session_id)["utterances"])

    def kept_alive(self, session_id: str) -> bool:
        return bool(self.held(session_id)["keep_alives"])


class LiveAvatarFull(LiveAvatarLite):
    cost_of_90_s = 2 * 2 * 100_000  # two started minutes, 2 credits each

    def build(self) -> AvatarProvider:
        api = LiveAvatarAPI(api_key="test-liveavatar-key", base_url=self.server.base_url)
        return LiveAvatarProvider(api, LiveAvatarOptions(mode="FULL", context_id="ctx"))

    def sink(self, session_id: str) -> DataSink:
        return BrowserRelay(f"{self.server.base_url}/_fake/datachannel/{session_id}")

    def assert_spoke(self, session_id: str, sentences: list[str]) -> None:
        assert [u["text"] for u in self.held(session_id)["utterances"]] == sentences


class Akool(Adapter):
    cost_of_90_s = 90 * 100_000 // 60  # the seconds used at $0.10 a minute; the rest refunded

    def build(self) -> AvatarProvider:
        api = AkoolAPI(api_key="test-akool-key", base_url=self.server.base_url)
        return AkoolProvider(api, AkoolOptions(duration_s=600, poll_interval_s=0.01))

    request = SessionRequest(avatar_id="dvp_Tristan_cloth2_1080P")

    def sink(self, session_id: str) -> DataSink:
        return BrowserRelay(f"{self.server.base_url}/_fake/datastream/{session_id}")

    def assert_spoke(self, session_id: str, sentences: list[str]) -> None:
        stream = self.fake.datastream(session_id)
        assert list(stream["chat_texts"].values()) == sentences
        assert stream["violations"] == []
        assert self.held(session_id)["retells_verbatim"]

    def interrupted(self, session_id: str) -> bool:
        return "interrupt" in self.fake.datastream(session_id)["commands"]


class Simli(Adapter):
    cost_of_90_s = round(90 * 0.05 / 60 * 1_000_000)  # the seconds used at $0.05 a minute
    survives_crash = False

    def build(self) -> AvatarProvider:
        api = SimliAPI(api_key="test-simli-key", base_url=self.server.base_url)
        return SimliProvider(api, tts=ToneVoice(ms_per_char=MS_PER_CHAR))

    request = SessionRequest(avatar_id="tmp9i8bbq7c")

    def session_key(self, held: dict[str, Any]) -> str:
        return f"simli-{held['session_token'][-24:]}"

    def assert_spoke(self, session_id: str, sentences: list[str]) -> None:
        held = self.held(session_id)
        expected = sum(len(s) for s in sentences) * MS_PER_CHAR / 1000
        assert held["audio_s"] == pytest.approx(expected, abs=0.01)
        assert held["violations"] == []

    def interrupted(self, session_id: str) -> bool:
        return bool(self.held(session_id)["skips"])

    def kept_alive(self, session_id: str) -> bool:
        return bool(self.held(session_id)["frames"])


class Tavus(Adapter):
    cost_of_90_s = 2 * 370_000  # two started minutes at $0.37

    def build(self) -> AvatarProvider:
        api = TavusAPI(api_key="test-tavus-key", base_url=self.server.base_url)
        return TavusProvider(api, TavusOptions(pal_id="p-echo-fake"))

    def session_key(self, held: dict[str, Any]) -> str:
        return str(held["conversation_id"])

    def sink(self, session_id: str) -> DataSink:
        return BrowserRelay(f"{self.server.base_url}/_fake/appmessage/{session_id}")

    def assert_spoke(self, session_id: str, sentences: list[str]) -> None:
        held = self.held(session_id)
        assert held["echoes"] == sentences and held["violations"] == []

    def interrupted(self, session_id: str) -> bool:
        return bool(self.held(session_id)["interrupts"])


ADAPTERS: dict[str, tuple[type[Adapter], str]] = {
    "liveavatar-lite": (LiveAvatarLite, "liveavatar"),
    "liveavatar-full": (LiveAvatarFull, "liveavatar"),
    "akool": (Akool, "akool"),
    "simli": (Simli, "simli"),
    "tavus": (Tavus, "tavus"),
}
