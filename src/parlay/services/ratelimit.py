"""Fixed-window rate limits per route group, in Redis (shared by every worker and host) when
PARLAY_REDIS_URL is set, in process memory otherwise.

PARLAY_RATE_LIMITS is a comma-separated list of GROUP=COUNT/PERIOD, e.g.
"auth=20/min,chat=120/min,chat_tokens=200000/min"; "off" disables every limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from parlay.errors import RateLimited
from parlay.ratelimit_spec import Limit

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("parlay.ratelimit")

ANONYMOUS_AUTH_ROUTES = frozenset({"guest-login", "register", "login", "refresh-token", "revoke"})


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class Counter(Protocol):
    async def add(self, key: str, amount: int, window: int) -> tuple[int, int]:
        """Add `amount` to the window's counter; return (new total, seconds to reset)."""
        ...

    async def peek(self, key: str, window: int) -> tuple[int, int]:
        ...


class MemoryCounter:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._current_window: dict[int, int] = {}

    def _slot(self, key: str, window: int) -> tuple[str, int]:
        now = time.time()
        index = int(now // window)
        self._prune(window, index)
        return f"{key}:{index}", math.ceil((index + 1) * window - now)

    def _prune(self, window: int, index: int) -> None:
        if self._current_window.get(window) != index:
            self._current_window[window] = index
            suffix = f":{index}"
            self._counts = {k: v for k, v in self._counts.items()
                            if not k.startswith(f"{window}:") or k.endswith(suffix)}

    async def add(self, key: str, amount: int, window: int) -> tuple[int, int]:
        slot, reset = self._slot(f"{window}:{key}", window)
        total = self._counts.get(slot, 0) + amount
        self._counts[slot] = total
        return total, reset

    async def peek(self, key: str, window: int) -> tuple[int, int]:
        slot, reset = self._slot(f"{window}:{key}", window)
        return self._counts.get(slot, 0), reset


# INCRBY and set the expiry on the window's first hit, atomically.
_INCR_SCRIPT = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return total
"""


class RedisCounter:
    def __init__(self, redis: Redis, prefix: str = "parlay") -> None:
        self._redis = redis
        self._prefix = prefix
        self._incr = redis.register_script(_INCR_SCRIPT)

    def _slot(self, key: str, window: int) -> tuple[str, int]:
        now = time.time()
        index = int(now // window)
        return f"{self._prefix}:rl:{key}:{window}:{index}", math.ceil((index + 1) * window - now)

    async def add(self, key: str, amount: int, window: int) -> tuple[int, int]:
        slot, reset = self._slot(key, window)
        total = await self._incr(keys=[slot], args=[amount, window + 1])
        return int(total), reset

    async def peek(self, key: str, window: int) -> tuple[int, int]:
        slot, reset = self._slot(key, window)
        value = await self._redis.get(slot)
        return int(value or 0), reset


class RateLimiter:
    def __init__(self, limits: dict[str, Limit], counter: Counter) -> None:
        self.limits = limits
        self._counter = counter
        self._spending: set[asyncio.Task[None]] = set()

    def enabled(self, group: str) -> bool:
        return group in self.limits

    async def hit(self, group: str, subject: str) -> Decision | None:
        """Count one request; raise RateLimited (429) when over the limit."""
        limit = self.limits.get(group)
        if limit is None:
            return None
        try:
            total, reset = await self._counter.add(f"{group}:{subject}", 1, limit.window)
        except Exception as exc:  # the limiter must not take the API down with it
            log.warning("rate limiter unavailable, allowing request: %s", exc)
            return None
        decision = Decision(total <= limit.count, limit.count, max(limit.count - total, 0), reset)
        if not decision.allowed:
            raise _refusal(group, decision)
        return decision

    async def check_budget(self, group: str, subject: str) -> None:
        """For budgets spent after the fact (tokens): refuse once the window is used up."""
        limit = self.limits.get(group)
        if limit is None:
            return
        try:
            used, reset = await self._counter.peek(f"{group}:{subject}", limit.window)
        except Exception as exc:
            log.warning("rate limiter unavailable, allowing request: %s", exc)
            return
        if used >= limit.count:
            raise _refusal(group, Decision(False, limit.count, 0, reset))

    def spend_later(self, group: str, subject: str, amount: int) -> None:
        """Count a spend without making the caller wait (called from the reply path)."""
        if group not in self.limits or amount <= 0:
            return
        task = asyncio.get_running_loop().create_task(self.spend(group, subject, amount))
        self._spending.add(task)
        task.add_done_callback(self._spending.discard)

    async def drain(self) -> None:
        """Wait until every spend counted off the reply path is written (at shutdown, so
        no spend is lost; and by tests that read a budget right after a reply)."""
        while self._spending:
            await asyncio.gather(*self._spending, return_exceptions=True)

    async def spend(self, group: str, subject: str, amount: int) -> None:
        limit = self.limits.get(group)
        if limit is None or amount <= 0:
            return
        try:
            await self._counter.add(f"{group}:{subject}", amount, limit.window)
        except Exception as exc:
            log.warning("rate limiter unavailable, not counting spend: %s", exc)


def _refusal(group: str, decision: Decision) -> RateLimited:
    what = "tokens" if group == "chat_tokens" else "requests"
    return RateLimited(
        f"rate limit exceeded for {group}: {decision.limit} {what} per window; "
        f"retry in {decision.reset}s",
        code="rate_limited" if group != "chat_tokens" else "token_rate_limited",
        headers={"Retry-After": str(decision.reset), **decision.headers()},
    )


def route_group(method: str, path: str) -> str:
    """Which limit a request counts against."""
    if path.startswith(("/llm/auth/", "/auth/")):
        return "auth" if path.rsplit("/", 1)[-1] in ANONYMOUS_AUTH_ROUTES else "api"
    if path.startswith(("/v1/public/", "/share/")):
        return "public"
    if path in ("/v1/chat/completions", "/v1/embeddings") or (
        method == "POST" and path == "/v1/responses") or (
        method == "POST" and path.startswith("/v1/conversations/")
        and (path.endswith("/items") or path.endswith("/regenerate"))
    ):
        return "chat"
    return "api"
