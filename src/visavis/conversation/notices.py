"""Notices to the instance that holds a live conversation: "look at it now".

The database stays the truth (the lease's epoch, the conversation's status); a notice only
makes the holder check at once instead of at its next round of ``VISAVIS_LEASE_CHECK_S``. With
``VISAVIS_REDIS_URL`` notices go through Redis pub/sub: ``end`` through any instance, a client
taking its conversation over through another one, reach the holder in milliseconds. Without
Redis, or while the circuit breaker skips it, or if a notice is lost (pub/sub keeps nothing),
the holder's own rounds find the change: notices are a shortcut, never the only way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from visavis.tenancy.breaker import RedisBreaker, RedisUnavailable

logger = logging.getLogger(__name__)

#: What a notice says happened: the conversation ended, or a newer connection took it over.
KINDS = frozenset({"end", "takeover"})
#: How long one wait for a message lasts before the listener looks around again.
_POLL_S = 1.0
#: Subscribing runs in the background (at start-up, the loop may be busy warming the voice):
#: it gets a deadline of its own, and its failure never opens the breaker of the request path;
#: while that breaker is open, the listener does not knock either.
_SUBSCRIBE_TIMEOUT_S = 5.0
_RESUBSCRIBE_S = (1.0, 30.0)

NoticeHandler = Callable[[uuid.UUID, str], Awaitable[None]]


class OwnerNotices:
    """Publishes and hears owner notices on one Redis channel, under the shared breaker."""

    def __init__(
        self,
        redis_url: str,
        *,
        channel: str,
        instance_id: str,
        breaker: RedisBreaker,
        timeout_s: float = 0.25,
    ) -> None:
        self.channel = channel
        self.instance_id = instance_id
        self.breaker = breaker
        # Publishing gives up after the deadline; listening waits as long as it likes.
        self._publisher = Redis.from_url(
            redis_url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
        )
        self._listener = Redis.from_url(
            redis_url, socket_connect_timeout=timeout_s, retry_on_timeout=False
        )
        #: Whether the channel is subscribed right now (notices can be heard).
        self.listening = False

    async def publish(self, conversation_id: uuid.UUID, kind: str) -> bool:
        """Tell the holder of ``conversation_id`` to look now; ``False`` if Redis was skipped
        or failed (the holder's next round finds the change anyway)."""
        message = json.dumps(
            {"conversation_id": str(conversation_id), "kind": kind, "from": self.instance_id}
        )
        try:
            await self.breaker.call(lambda: self._publisher.publish(self.channel, message))
        except RedisUnavailable as unavailable:
            logger.debug("owner notice not sent: %s", unavailable.message)
            return False
        return True

    async def listen(self, handler: NoticeHandler) -> None:
        """Hear notices from other instances and hand each to ``handler``, until cancelled;
        subscribes again after a failure (1 s, doubling to 30 s between attempts)."""
        delay, longest = _RESUBSCRIBE_S
        while True:
            if self.breaker.is_open:  # Redis failed for the request path too: not now
                await asyncio.sleep(_POLL_S)
                continue
            pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(_SUBSCRIBE_TIMEOUT_S):
                    await pubsub.subscribe(self.channel)
                self.listening = True
                logger.info("owner notices: listening on Redis channel %s", self.channel)
                delay = _RESUBSCRIBE_S[0]
                while True:
                    message = await pubsub.get_message(timeout=_POLL_S)
                    if message is not None:
                        await self._heard(message, handler)
            except (RedisError, OSError, TimeoutError) as error:
                logger.warning(
                    "owner notices: no Redis subscription (%s); the lease poll carries on",
                    type(error).__name__,
                )
            finally:
                self.listening = False
                await _quietly(pubsub.aclose())
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _heard(self, message: dict[str, Any], handler: NoticeHandler) -> None:
        try:
            notice = json.loads(message["data"])
            conversation_id = uuid.UUID(notice["conversation_id"])
            kind = notice["kind"]
            sender = notice["from"]
        except (ValueError, KeyError, TypeError):
            logger.warning("owner notices: ignored a malformed notice")
            return
        if sender == self.instance_id or kind not in KINDS:
            return
        await handler(conversation_id, kind)

    async def aclose(self) -> None:
        await _quietly(self._publisher.aclose())
        await _quietly(self._listener.aclose())


async def _quietly(closing: Awaitable[Any]) -> None:
    try:
        await closing
    except (RedisError, OSError):
        pass
