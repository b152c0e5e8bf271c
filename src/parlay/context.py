"""Everything a running app holds: built once in the lifespan, reached via `api.deps`."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from parlay.config import Settings
from parlay.db.direct import DirectDB
from parlay.services.principals import PrincipalResolver
from parlay.services.ratelimit import RateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from parlay.providers.registry import ProviderRegistry
    from parlay.services.chat import ChatService
    from parlay.services.gateway import Gateway
    from parlay.services.memory_recall import MemoryRuntime
    from parlay.services.replies import ReplyDeps
    from parlay.services.tool_registry import ToolRegistry
    from parlay.services.usage import UsageRecorder


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    jwt_secret: str
    principals: PrincipalResolver
    limiter: RateLimiter
    direct: DirectDB  # the hot routes' statements, straight on the driver (db/direct.py)
    # Closed in reverse order at shutdown; components push their own aclose() here.
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)
    redis: Redis | None = None
    # Set by services.gateway.start_gateway at start-up, before the app serves requests.
    providers: ProviderRegistry = field(init=False)
    usage: UsageRecorder = field(init=False)
    gateway: Gateway = field(init=False)  # admin provider changes
    chat: ChatService = field(init=False)  # one provider call (the gateway hot path)
    replies: ReplyDeps = field(init=False)  # what the reply pipeline needs
    tools: ToolRegistry = field(init=False)  # set by services.tool_startup.start_tools
    memory: MemoryRuntime = field(init=False)  # set by services.memory_recall.start_memory
