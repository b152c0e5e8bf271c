"""Redis pub/sub that makes every worker forget a user or key the moment one worker changes it
(logout, disable, role change, key revocation), instead of after the cache TTL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from parlay.services.principals import PrincipalResolver

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

log = logging.getLogger("parlay.auth_bus")


class AuthInvalidationBus:
    def __init__(self, redis_url: str, principals: PrincipalResolver, prefix: str) -> None:
        from redis.asyncio import Redis

        # Its own connection with no read timeout: a subscriber sits idle most of the time.
        self._redis = Redis.from_url(redis_url, socket_connect_timeout=2)
        self._principals = principals
        self._channel = f"{prefix}:auth:invalidate"
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel)
        self._task = asyncio.create_task(self._listen(pubsub))
        self._principals.broadcast = self.publish

    def publish(self, kind: str, value: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._redis.publish(self._channel, f"{kind}:{value}")
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    self._apply(message.get("data", b""))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: keep trying; the TTL still bounds staleness
                log.warning("auth invalidation channel lost: %s", exc)
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(self._channel)

    def _apply(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        kind, _, value = text.partition(":")
        if kind == "user":
            self._principals.forget_user(value, broadcast=False)
        elif kind == "key":
            self._principals.forget_key(value, broadcast=False)

    async def aclose(self) -> None:
        self._principals.broadcast = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._redis.aclose()
