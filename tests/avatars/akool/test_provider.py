"""Akool as a provider against its fake: verbatim retelling, closing once, paying what was used."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.akool import AkoolServer
from visavis.avatars.akool.api import AkoolAPI
from visavis.avatars.akool.provider import AkoolOptions, AkoolProvider
from visavis.avatars.base import SessionRequest

KEY = "test-akool-key"


@pytest.fixture
async def provider(akool: AkoolServer) -> AsyncIterator[AkoolProvider]:
    built = AkoolProvider(
        AkoolAPI(api_key=KEY, base_url=akool.base_url, timeout_s=2),
        AkoolOptions(duration_s=600, poll_interval_s=0.01, price_per_minute_usd=0.6),
    )
    yield built
    await built.aclose()


async def test_sessions_are_created_to_retell_our_sentences_verbatim(
    akool: AkoolServer, provider: AkoolProvider
) -> None:
    session = await provider.create_session(SessionRequest(avatar_id="a", language="en"))
    await provider.start(session)
    (held,) = akool.fake.open_sessions()
    assert held["request"]["mode_type"] == 1 and held["retells_verbatim"] is True


async def test_a_closed_session_is_never_closed_again_whatever_akool_reports(
    akool: AkoolServer, provider: AkoolProvider
) -> None:
    akool.configure(closed_status=3)  # undocumented: a closed session may still look live
    session = await provider.create_session(SessionRequest(avatar_id="a"))
    await provider.start(session)
    assert await provider.stop(session.session_id) is True
    (listed,) = (await provider.api.list_sessions(status=3)).sessions
    assert listed.session_id == session.session_id  # Akool still says 3 ...
    assert await provider.list_active() == []  # ... but reconciliation does not see it
    assert await provider.stop(session.session_id) is False
    (held,) = akool.fake.all_sessions()
    assert held["close_requests"] == 1


async def test_a_session_costs_the_time_used_and_akool_refunds_the_rest(
    akool: AkoolServer, provider: AkoolProvider
) -> None:
    session = await provider.create_session(SessionRequest(avatar_id="a"))
    await provider.start(session)
    akool.configure(advance_clock_s=90)
    await provider.stop(session.session_id)
    (held,) = akool.fake.all_sessions()
    assert held["credits_used_s"] == pytest.approx(90, abs=1)
    # Booked 600 s at $0.60 a minute; 90.2 s used cost 91 started seconds: $0.91.
    cost = provider.billing.cost_microusd(streamed_s=90.2, requested_s=600)
    assert cost == 910_000


async def test_the_catalogue_lists_akool_avatars(provider: AkoolProvider) -> None:
    (avatar,) = await provider.list_avatars()
    assert (avatar.provider, avatar.avatar_id) == ("akool", "dvp_Tristan_cloth2_1080P")
    assert avatar.preview_url is not None
