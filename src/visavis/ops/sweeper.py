"""The orphan sweeper: stops provider sessions nobody uses, because they cost money every minute.

A session is an orphan when its conversation ended, its client vanished (no heartbeat for
``client_heartbeat_timeout_s``), or it outlived its maximum length. The sweeper also asks each
provider which sessions it holds open. A provider key may be shared by several deployments
(staging and production): a session this deployment has no record of may be another one's, so
it is only reported (``unclaimed``), and stopped only where the operator said this deployment is
alone on its keys (``stop_unknown``). A session this deployment already closed is never closed
again, whatever the provider still lists. It runs in every instance and as ``visavis sweep``;
rows are locked ``FOR UPDATE SKIP LOCKED`` and each stop is claimed, so two instances never stop
one session twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from visavis.avatars.base import ActiveSession, AvatarProvider
from visavis.avatars.errors import ProviderError
from visavis.avatars.store import AvatarStore
from visavis.db.repositories.avatar_sessions import AvatarSessionRepository
from visavis.ops.metrics import Metrics

logger = logging.getLogger(__name__)

#: A session the provider reports but we never recorded may be one being created right now.
UNKNOWN_GRACE_S = 20.0


@dataclass
class SweepReport:
    """What one sweep found and did."""

    stopped: list[dict[str, str]] = field(default_factory=list)
    would_stop: list[dict[str, str]] = field(default_factory=list)
    reconciled: list[dict[str, str]] = field(default_factory=list)
    #: Open at the provider, unknown here: perhaps another deployment's, so left alone.
    unclaimed: list[dict[str, str]] = field(default_factory=list)
    #: Closed here, still listed by the provider: never closed twice.
    still_listed: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Sweeper:
    """Finds and stops orphaned provider sessions."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        store: AvatarStore,
        providers: Mapping[str, AvatarProvider],
        client_timeout_s: float,
        unknown_grace_s: float = UNKNOWN_GRACE_S,
        stop_unknown: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.stop_unknown = stop_unknown
        self.metrics = metrics
        self.unknown_grace_s = unknown_grace_s
        self.store = store
        self.providers = providers
        self.client_timeout = timedelta(seconds=client_timeout_s)
        self._task: asyncio.Task[None] | None = None
        # Sessions the provider reported that we didn't know, and when we first saw them.
        self._unknown_since: dict[tuple[str, str], float] = {}

    async def sweep(self, *, dry_run: bool = False, reconcile: bool = True) -> SweepReport:
        """One pass: orphans in the database, then sessions only the providers know."""
        report = SweepReport()
        await self._sweep_rows(report, dry_run=dry_run)
        if reconcile:
            for provider in self.providers.values():
                if provider.name != "local":
                    await self._reconcile(provider, report, dry_run=dry_run)
        return report

    async def _sweep_rows(self, report: SweepReport, *, dry_run: bool) -> None:
        while True:
            async with self.sessions() as db:
                found = [
                    (
                        row.id,
                        {
                            "avatar_session": str(row.id),
                            "conversation": str(row.conversation_id),
                            "provider": row.provider,
                            "provider_session": row.provider_session_id or "",
                            "reason": reason,
                        },
                    )
                    for row, reason in await AvatarSessionRepository(db).orphans(
                        client_timeout=self.client_timeout, limit=50
                    )
                ]
                # Release the row locks before calling providers: claim_stop is the guard.
                await db.rollback()
            if not found:
                return
            progress = False
            for row_id, entry in found:
                if dry_run:
                    report.would_stop.append(entry)
                    continue
                outcome = await self.store.stop(row_id, reason=entry["reason"], settle=True)
                if outcome.stopped:
                    report.stopped.append(entry)
                    self._count_stop(entry)
                    progress = True
            if dry_run or not progress:
                return

    async def _reconcile(
        self, provider: AvatarProvider, report: SweepReport, *, dry_run: bool
    ) -> None:
        try:
            active = await provider.list_active()
        except ProviderError as exc:
            report.errors.append(f"{provider.name}: {exc.message}")
            return
        ids = [session.session_id for session in active]
        async with self.sessions() as db:
            known = await AvatarSessionRepository(db).known_provider_ids(provider.name, ids)
        now_mono, now_wall = time.monotonic(), datetime.now(UTC)
        seen_now = {(provider.name, session_id) for session_id in ids}
        for key in [k for k in self._unknown_since if k[0] == provider.name and k not in seen_now]:
            del self._unknown_since[key]
        for session in active:
            session_id = session.session_id
            state = known.get(session_id)
            if state == "open":
                continue  # a row here manages it: the row sweep decides
            if state is None and not self._old_enough(provider.name, session, now_mono, now_wall):
                continue  # maybe being started right now: its id is not recorded yet
            entry = {
                "provider": provider.name,
                "provider_session": session_id,
                "reason": "orphaned_at_provider" if state is None else "stopped_here",
            }
            if state is not None:
                report.still_listed.append(entry)  # we closed it; the provider lags behind
                continue
            if not self.stop_unknown:
                report.unclaimed.append(entry)
                continue
            if dry_run:
                report.would_stop.append(entry)
                continue
            try:
                if await provider.stop(session_id):
                    report.reconciled.append(entry)
                    self._count_stop(entry)
            except ProviderError as exc:
                report.errors.append(f"{provider.name} {session_id}: {exc.message}")

    def _count_stop(self, entry: dict[str, str]) -> None:
        if self.metrics is not None:
            self.metrics.sweeper_stop(provider=entry["provider"], reason=entry["reason"])

    def _old_enough(
        self, provider: str, session: ActiveSession, now_mono: float, now_wall: datetime
    ) -> bool:
        """Whether an unknown session has been around long enough to be a real orphan."""
        if session.created_at is not None:
            return (now_wall - session.created_at).total_seconds() >= self.unknown_grace_s
        first = self._unknown_since.setdefault((provider, session.session_id), now_mono)
        return now_mono - first >= self.unknown_grace_s

    def start(self, interval_s: float) -> None:
        """Sweep every ``interval_s`` in the background (first pass at once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(interval_s), name="orphan-sweeper")

    async def _run(self, interval_s: float) -> None:
        while True:
            try:
                report = await self.sweep()
                if report.stopped or report.reconciled:
                    logger.info(
                        "sweeper stopped %d orphaned and %d unknown provider sessions",
                        len(report.stopped),
                        len(report.reconciled),
                    )
                for error in report.errors:
                    logger.warning("sweeper: %s", error)
            except Exception:  # the next pass retries; a crash here would stop all sweeping
                logger.exception("sweep failed")
            await asyncio.sleep(interval_s)

    async def aclose(self) -> None:
        """Stop sweeping; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
