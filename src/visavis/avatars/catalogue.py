"""The avatars each configured provider offers, cached briefly (tenants pick their default).

One listing per provider per ``ttl_s``, shared by concurrent callers; a provider that fails is
reported, not cached, and does not hide the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from visavis.avatars.base import AvatarCatalogue, AvatarInfo, AvatarProvider
from visavis.avatars.errors import ProviderError


@dataclass(frozen=True, slots=True)
class CatalogueFailure:
    """A provider whose list could not be fetched, and why."""

    provider: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class CatalogueResult:
    """What the catalogue found (avatars in provider order) and which providers failed."""

    avatars: list[AvatarInfo] = field(default_factory=list)
    failures: list[CatalogueFailure] = field(default_factory=list)


class AvatarCatalogueCache:
    """Lists and caches the avatars of every provider that has a catalogue."""

    def __init__(
        self,
        providers: Mapping[str, AvatarProvider],
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = providers
        self.ttl_s = ttl_s
        self.clock = clock
        self._cached: dict[str, tuple[float, list[AvatarInfo]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def listed_providers(self) -> list[str]:
        """The configured providers that can list avatars."""
        return [n for n, p in self.providers.items() if isinstance(p, AvatarCatalogue)]

    async def avatars(self, provider: str | None = None) -> CatalogueResult:
        """The avatars of ``provider`` (or of every listed provider)."""
        names = [provider] if provider is not None else self.listed_providers()
        result = CatalogueResult()
        for name in names:
            try:
                result.avatars.extend(await self._of(name))
            except ProviderError as error:
                result.failures.append(CatalogueFailure(name, error.reason, error.message))
        return result

    async def _of(self, name: str) -> list[AvatarInfo]:
        provider = self.providers.get(name)
        if not isinstance(provider, AvatarCatalogue):
            return []
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            cached = self._cached.get(name)
            if cached is not None and cached[0] > self.clock():
                return cached[1]
            found = await provider.list_avatars()
            self._cached[name] = (self.clock() + self.ttl_s, found)
            return found

    def clear(self) -> None:
        """Forget every cached list."""
        self._cached.clear()
