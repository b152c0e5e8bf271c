"""Everything a running app holds: built once in the lifespan, reached via `api.deps`."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from parlay.config import Settings
from parlay.services.principals import PrincipalResolver
from parlay.services.ratelimit import RateLimiter


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    jwt_secret: str
    principals: PrincipalResolver
    limiter: RateLimiter
    # Closed in reverse order at shutdown; components push their own aclose() here.
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)
    redis: Any | None = None
    # Filled by the gateway at start-up (parlay.providers.registry.ProviderRegistry,
    # parlay.services.usage.UsageRecorder).
    providers: Any | None = None
    usage: Any | None = None
    gateway: Any | None = None  # parlay.services.gateway.Gateway (admin provider changes)
    tools: Any | None = None  # parlay.services.tool_registry.ToolRegistry
