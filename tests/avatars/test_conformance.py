"""Every provider against its fake, the same way: a provider that passes this works for us.

Start, three sentences (our audio or relayed text), an interrupt mid-sentence, keep-alive across
the idle timeout, stop (twice) with the cost its billing rule gives, and after a crash of our
process: found by ``list_active`` and stopped by the sweeper, or gone with its socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.avatars.conformance import ADAPTERS, Adapter
from tests.avatars.conftest import until
from visavis.avatars.base import AvatarProvider, ProviderSession, audio_driven
from visavis.avatars.errors import ProviderError

SENTENCES = [
    "Thank you for coming in today.",
    "Let us start with your last project.",
    "What did you build, and why?",
]
LONG = "This sentence is long enough that the face is still saying it when we cut in."


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    kind, fake_fixture = ADAPTERS[request.param]
    return kind(request.getfixturevalue(fake_fixture))


@pytest.fixture
async def provider(adapter: Adapter) -> AsyncIterator[AvatarProvider]:
    built = adapter.build()
    yield built
    await built.aclose()


async def started(adapter: Adapter, provider: AvatarProvider) -> ProviderSession:
    session = await provider.create_session(adapter.request)
    await provider.start(session)
    assert session.provider == provider.name and session.media is not None
    assert adapter.open_at_fake(session.session_id)
    return session


async def test_start_and_speak_three_sentences(adapter: Adapter, provider: AvatarProvider) -> None:
    session = await started(adapter, provider)
    sink = adapter.sink(session.session_id)
    for sentence in SENTENCES:
        await provider.speak(session, sentence, sink=sink)
    await until(lambda: _spoke(adapter, session.session_id))


def _spoke(adapter: Adapter, session_id: str) -> bool:
    try:
        adapter.assert_spoke(session_id, SENTENCES)
    except (AssertionError, ValueError):
        return False
    return True


async def test_interrupt_mid_sentence(adapter: Adapter, provider: AvatarProvider) -> None:
    session = await started(adapter, provider)
    sink = adapter.sink(session.session_id)
    driven = audio_driven(provider)
    if driven is not None:
        # Our voice is still producing the sentence: two seconds sent, the rest never will be.
        await driven.begin_utterance(session)
        await driven.push_audio(session, b"\x10\x00" * 24000 * 2, 24000)
    else:
        await provider.speak(session, LONG, sink=sink)
    await provider.interrupt(session, sink=sink)
    await until(lambda: adapter.interrupted(session.session_id))


async def test_keep_alive_holds_the_session_past_the_idle_timeout(
    adapter: Adapter, provider: AvatarProvider
) -> None:
    session = await started(adapter, provider)
    idle = provider.limits.idle_timeout_s
    if idle is not None:
        assert provider.limits.keep_alive_interval_s is not None
        assert provider.limits.keep_alive_interval_s < idle
        adapter.advance(idle * 0.6)
    await provider.keep_alive(session)
    await until(lambda: adapter.kept_alive(session.session_id))
    if idle is not None:
        adapter.advance(idle * 0.6)  # 1.2 idle timeouts since start, 0.6 since the keep-alive
    assert adapter.open_at_fake(session.session_id)


async def test_stop_is_idempotent_and_costs_what_the_billing_rule_says(
    adapter: Adapter, provider: AvatarProvider
) -> None:
    session = await started(adapter, provider)
    assert await provider.stop(session.session_id) is True
    assert await provider.stop(session.session_id) is False
    await until(lambda: not adapter.open_at_fake(session.session_id))
    cost = provider.billing.cost_microusd(
        streamed_s=90.0, requested_s=provider.limits.max_session_s
    )
    assert cost == adapter.cost_of_90_s
    if provider.limits.idle_timeout_s is not None:  # nothing left to keep alive
        with pytest.raises(ProviderError):
            await provider.keep_alive(session)


async def test_after_a_crash_the_sweeper_finds_and_stops_the_session(adapter: Adapter) -> None:
    crashed = adapter.build()
    session = await started(adapter, crashed)
    # The process dies: no stop, its connections drop.
    await _drop(crashed)
    survivor = adapter.build()
    try:
        if not adapter.survives_crash:
            await until(lambda: not adapter.open_at_fake(session.session_id))
            assert await survivor.list_active() == []
            return
        listed = {active.session_id: active for active in await survivor.list_active()}
        assert session.session_id in listed
        assert await survivor.stop(session.session_id) is True
        assert session.session_id not in {a.session_id for a in await survivor.list_active()}
        assert not adapter.open_at_fake(session.session_id)
    finally:
        await survivor.aclose()
        await crashed.aclose()


async def _drop(provider: AvatarProvider) -> None:
    """What a crash leaves: sockets gone, nothing stopped at the provider."""
    close_channels = getattr(provider, "close_channels", None)
    if close_channels is not None:
        await close_channels()
