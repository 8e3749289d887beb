"""The avatar catalogue cache against the fakes: one listing per provider per TTL, shared."""

from __future__ import annotations

import asyncio

from tests.fakes.liveavatar import LiveAvatarServer
from tests.fakes.tavus import TavusServer
from visavis.avatars.catalogue import AvatarCatalogueCache
from visavis.avatars.liveavatar.api import LiveAvatarAPI
from visavis.avatars.liveavatar.provider import LiveAvatarProvider
from visavis.avatars.tavus.api import TavusAPI
from visavis.avatars.tavus.provider import TavusOptions, TavusProvider


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_lists_are_cached_for_their_ttl_and_shared(
    liveavatar: LiveAvatarServer, tavus: TavusServer
) -> None:
    clock = Clock()
    providers = {
        "liveavatar": LiveAvatarProvider(
            LiveAvatarAPI(api_key="test-liveavatar-key", base_url=liveavatar.base_url)
        ),
        "tavus": TavusProvider(
            TavusAPI(api_key="test-tavus-key", base_url=tavus.base_url),
            TavusOptions(pal_id="p-echo-fake"),
        ),
    }
    cache = AvatarCatalogueCache(providers, ttl_s=60, clock=clock)
    try:
        first, second = await asyncio.gather(cache.avatars(), cache.avatars())
        assert first == second and len(first.avatars) == 4 and first.failures == []
        assert len(liveavatar.fake.requests("/v1/avatars")) == 1
        clock.now = 59
        await cache.avatars("liveavatar")
        assert len(liveavatar.fake.requests("/v1/avatars")) == 1
        clock.now = 61
        tavus.configure(fail_next=3)
        later = await cache.avatars()
        assert len(liveavatar.fake.requests("/v1/avatars")) == 2
        assert [f.provider for f in later.failures] == ["tavus"]
        assert {a.provider for a in later.avatars} == {"liveavatar"}
    finally:
        for provider in providers.values():
            await provider.aclose()
