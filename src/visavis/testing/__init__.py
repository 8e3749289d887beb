"""The in-process test kit: run conversations without a server, a socket or a real voice.

Shipped with the package so that anyone embedding Visavis can test against it like we do.
"""

from visavis.testing.agents import ScriptedAgent
from visavis.testing.avatar import FakeAvatarProvider, FakeSession
from visavis.testing.clock import ManualClock
from visavis.testing.conversation import ConversationKit, Pause, Received, WaitFor, run_session
from visavis.testing.stt import EnergyDetector, FakeSTT
from visavis.testing.tts import FakeTTS
from visavis.testing.virtual_time import VirtualTimeLoop, run_virtual

__all__ = [
    "ConversationKit",
    "EnergyDetector",
    "FakeSTT",
    "FakeAvatarProvider",
    "FakeSession",
    "FakeTTS",
    "ManualClock",
    "Pause",
    "Received",
    "ScriptedAgent",
    "VirtualTimeLoop",
    "WaitFor",
    "run_session",
    "run_virtual",
]
