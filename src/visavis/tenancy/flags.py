"""Feature flags: global switch, percentage rollout, beta tenants, overrides and a kill switch.

A flag's answer for a tenant, in order of precedence:

1. the **kill switch** is on → off, for everyone (new conversations only: running ones finish);
2. the tenant's **override** (``on`` / ``off``) → that;
3. the **global switch** is off → off;
4. the tenant is in the **beta** list → on;
5. the tenant's **rollout bucket** (a stable hash of flag name and tenant id, 0–99) is below
   ``rollout_percent`` → on, else off.

Flags live in the database (no row = the defaults below) and each instance caches them for at
most ``ttl_s`` seconds, so a change reaches every instance within that time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from visavis.db.engine import create_engine, create_session_factory
from visavis.db.repositories.flags import FlagRepository
from visavis.errors import InvalidInputError, NotFoundError

AVATAR = "avatar"
KNOWN_FLAGS: Mapping[str, str] = {
    AVATAR: "avatars (local and provider video) for new conversations",
}
DEFAULTS: Mapping[str, Any] = {"enabled": True, "rollout_percent": 100, "kill_switch": False}
TENANT_STATES = ("on", "off", "beta")


class UnknownFlag(NotFoundError):
    """No flag has this name."""

    code = "unknown_flag"


def require_known(name: str) -> str:
    """``name`` if it is a flag this code knows, else ``UnknownFlag`` listing the known ones."""
    if name not in KNOWN_FLAGS:
        raise UnknownFlag(f"no flag named {name!r}; known flags: {', '.join(sorted(KNOWN_FLAGS))}")
    return name


def rollout_bucket(name: str, tenant_id: uuid.UUID) -> int:
    """The tenant's place (0–99) in the flag's rollout: the same on every instance and restart."""
    digest = hashlib.sha256(f"{name}:{tenant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


@dataclass(frozen=True, slots=True)
class FlagSettings:
    """A flag's global settings."""

    name: str
    enabled: bool = True
    rollout_percent: int = 100
    kill_switch: bool = False
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class FlagDecision:
    """A flag's answer for one tenant; when off, a reason code and a sentence."""

    enabled: bool
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class FlagSnapshot:
    """Every flag and tenant state at one moment."""

    flags: Mapping[str, FlagSettings] = field(default_factory=dict)
    tenant_states: Mapping[tuple[str, uuid.UUID], str] = field(default_factory=dict)

    def settings(self, name: str) -> FlagSettings:
        return self.flags.get(name) or FlagSettings(name=name)

    def evaluate(self, name: str, tenant_id: uuid.UUID) -> FlagDecision:
        """The flag's answer for ``tenant_id`` (see the module's precedence)."""
        flag = self.settings(name)
        state = self.tenant_states.get((name, tenant_id))
        if flag.kill_switch:
            return FlagDecision(
                False, "kill_switch", f"the {name} feature is switched off on this deployment"
            )
        if state == "on":
            return FlagDecision(True)
        if state == "off":
            return FlagDecision(False, "override_off", f"the {name} feature is off for this tenant")
        if not flag.enabled:
            return FlagDecision(False, "flag_disabled", f"the {name} feature is not enabled")
        if state == "beta" or rollout_bucket(name, tenant_id) < flag.rollout_percent:
            return FlagDecision(True)
        return FlagDecision(
            False,
            "not_in_rollout",
            f"the {name} feature is rolled out to {flag.rollout_percent}% of tenants, "
            "not yet this one",
        )


async def load_snapshot(session: AsyncSession) -> FlagSnapshot:
    """Read every flag and tenant state."""
    repo = FlagRepository(session)
    flags = {
        row.name: FlagSettings(
            name=row.name,
            enabled=row.enabled,
            rollout_percent=row.rollout_percent,
            kill_switch=row.kill_switch,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )
        for row in await repo.all_flags()
    }
    states = {(row.flag_name, row.tenant_id): row.state for row in await repo.all_tenant_states()}
    return FlagSnapshot(flags=flags, tenant_states=states)


class FlagCache:
    """This instance's copy of the flags, read again when older than ``ttl_s`` seconds.

    Give it sessions of its own (see :meth:`for_database`): requests that hold every pooled
    connection may be the ones waiting for a refresh.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        engine: AsyncEngine | None = None,
    ) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._clock = clock
        self._engine = engine
        self._snapshot: FlagSnapshot | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def for_database(cls, url: str, *, ttl_s: float) -> FlagCache:
        """A cache reading through one connection of its own; ``aclose`` releases it."""
        engine = create_engine(url, pool_size=1, max_overflow=0)
        return cls(create_session_factory(engine), ttl_s=ttl_s, engine=engine)

    async def aclose(self) -> None:
        """Release the cache's own connection (idempotent)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    def _fresh(self) -> FlagSnapshot | None:
        if self._snapshot is not None and self._clock() - self._loaded_at < self._ttl_s:
            return self._snapshot
        return None

    async def snapshot(self) -> FlagSnapshot:
        """The flags as of at most ``ttl_s`` seconds ago."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:  # one reader refreshes; the others wait for its result
            fresh = self._fresh()
            if fresh is not None:
                return fresh
            started = self._clock()
            async with self._sessions() as session:
                snapshot = await load_snapshot(session)
            self._snapshot, self._loaded_at = snapshot, started
            return snapshot

    async def evaluate(self, name: str, tenant_id: uuid.UUID) -> FlagDecision:
        return (await self.snapshot()).evaluate(name, tenant_id)

    def invalidate(self) -> None:
        """Forget the copy (after a change made through this instance)."""
        self._snapshot = None


async def update_flag(
    session: AsyncSession,
    name: str,
    *,
    actor: str,
    enabled: bool | None = None,
    rollout_percent: int | None = None,
    kill_switch: bool | None = None,
) -> FlagSettings:
    """Change a flag's global settings (``None`` = keep), recording the change; caller commits."""
    require_known(name)
    if rollout_percent is not None and not 0 <= rollout_percent <= 100:
        raise InvalidInputError("rollout_percent is a whole number from 0 to 100")
    changes = {
        key: value
        for key, value in (
            ("enabled", enabled),
            ("rollout_percent", rollout_percent),
            ("kill_switch", kill_switch),
        )
        if value is not None
    }
    row = await FlagRepository(session).update_flag(
        name, changes, defaults=dict(DEFAULTS), actor=actor
    )
    return FlagSettings(
        name=row.name,
        enabled=row.enabled,
        rollout_percent=row.rollout_percent,
        kill_switch=row.kill_switch,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


async def set_tenant_state(
    session: AsyncSession, name: str, tenant_id: uuid.UUID, state: str | None, *, actor: str
) -> None:
    """Put a tenant ``on``/``off`` (override) or in ``beta``, or clear it (``None``)."""
    require_known(name)
    if state is not None and state not in TENANT_STATES:
        raise InvalidInputError(f"a tenant's flag state is one of {', '.join(TENANT_STATES)}")
    await FlagRepository(session).set_tenant_state(
        name, tenant_id, state, defaults=dict(DEFAULTS), actor=actor
    )
