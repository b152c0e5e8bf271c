"""create_app(settings): routers, middleware and lifespan. No logic lives here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from parlay import __version__
from parlay.api import (
    admin_audit,
    admin_mcp_servers,
    admin_providers,
    admin_tool_calls,
    admin_tools,
    admin_usage,
    admin_users,
    auth,
    chat,
    conversations,
    items,
    memories,
    models,
    openapi_links,
    ops,
    public_shares,
    responses,
    shares,
    tool_approvals,
    tools,
    usage,
    webapp,
)
from parlay.api import mcp as mcp_api
from parlay.api import settings as user_settings
from parlay.api.body_limit import BodyLimitMiddleware
from parlay.api.errors import install_error_handlers
from parlay.api.fastpath import GatewayFastPath
from parlay.api.hot_routes import HotRoutes
from parlay.api.mcp import McpEndpoint
from parlay.config import Settings, load_settings
from parlay.context import AppContext
from parlay.db import migrate
from parlay.db.direct import DirectDB
from parlay.db.engine import make_engine, make_sessionmaker
from parlay.observability import Metrics, RequestContextMiddleware
from parlay.providers.local import install_local_provider
from parlay.providers.local_embeddings import install_local_embeddings
from parlay.ratelimit_spec import parse_limits
from parlay.services.accounts import ensure_bootstrap_admin
from parlay.services.auth_bus import AuthInvalidationBus
from parlay.services.gateway import start_gateway
from parlay.services.memory_steps import start_memory
from parlay.services.principals import PrincipalResolver
from parlay.services.ratelimit import MemoryCounter, RateLimiter, RedisCounter
from parlay.services.reply_sweeper import ReplySweeper
from parlay.services.tool_startup import start_tools
from parlay.services.tools import ensure_builtin_tools
from parlay.web.assets import current_build

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("parlay")


async def build_context(settings: Settings) -> AppContext:
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.async_database_url)
    if settings.auto_migrate:
        await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    direct = DirectDB(engine.url, engine.dialect)
    jwt_secret = settings.resolved_jwt_secret()
    principals = PrincipalResolver(
        direct, jwt_secret, admin_api_key=settings.admin_api_key,
        cache_ttl=settings.auth_cache_ttl,
    )
    redis = _redis_client(settings)
    counter = RedisCounter(redis, settings.redis_prefix) if redis is not None else MemoryCounter()
    limiter = RateLimiter(parse_limits(settings.rate_limits), counter)
    ctx = AppContext(settings, engine, sessionmaker, jwt_secret, principals, limiter, direct,
                     redis=redis)
    ctx.resources.push_async_callback(engine.dispose)
    ctx.resources.push_async_callback(direct.aclose)
    if redis is not None:
        ctx.resources.push_async_callback(redis.aclose)
        bus = AuthInvalidationBus(settings.redis_url, principals, settings.redis_prefix)
        try:
            await bus.start()
        except Exception as exc:  # Redis down at start-up must not keep Parlay down
            await bus.aclose()
            log.warning("redis unreachable at start-up (%s); cross-worker auth invalidation "
                        "falls back to the %ss cache TTL", exc, settings.auth_cache_ttl)
        else:
            ctx.resources.push_async_callback(bus.aclose)
    ctx.resources.push_async_callback(limiter.drain)  # runs before the counter's Redis closes
    if settings.admin_api_key:
        async with sessionmaker() as session:
            await ensure_bootstrap_admin(session)
    return ctx


def _redis_client(settings: Settings) -> Redis | None:
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx = await build_context(app.state.settings)
    app.state.ctx = ctx
    async with ctx.resources:
        await _start_components(app, ctx)
        yield


async def _start_components(app: FastAPI, ctx: AppContext) -> None:
    """Each resource's start-up hook; each registers its own shutdown on ctx.resources."""
    # First: later components (the local model) register providers into ctx.providers.
    await start_gateway(ctx)
    await install_local_provider(ctx.settings, ctx.providers, ctx.resources)
    embeddings = await install_local_embeddings(ctx.settings, ctx.providers, ctx.resources)
    await start_memory(ctx, embeddings.model.id if embeddings is not None else None)
    async with ctx.sessionmaker() as session:
        await ensure_builtin_tools(session)
    ctx.tools = await start_tools(ctx)
    await app.state.mcp.start()
    ctx.resources.push_async_callback(app.state.mcp.aclose)
    current_build()  # hash and gzip the web app's files now, not on the first visit
    sweeper = ReplySweeper(ctx.sessionmaker, ctx.settings.stale_reply_seconds)
    await sweeper.start()
    ctx.resources.push_async_callback(sweeper.aclose)


def create_app(settings: Settings | None = None, *, fast_path: bool = True,
               hot_routes: bool = True) -> FastAPI:
    """`fast_path=False` serves chat completions and embeddings through FastAPI's router too
    (tests compare both; bench/gateway.py can measure what the fast path saves);
    `hot_routes=False` does the same for api/hot_routes.py's routes."""
    settings = settings or load_settings()
    app = FastAPI(
        title="Parlay",
        version=__version__,
        description="Self-hosted LLM API server: OpenAI-compatible gateway, conversations, "
        "accounts, model catalog, settings and admin-managed MCP tools.",
        lifespan=lifespan,
        # No OpenTelemetry bridge: it probes the environment on every request (hot path);
        # Parlay exports its own Prometheus metrics at /metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.mcp = McpEndpoint()
    install_error_handlers(app)
    _include_routers(app)
    openapi_links.install(app)
    # Chat completions / embeddings skip FastAPI's router (hot path, see fastpath.py), and so
    # do the conversation, settings and auth reads a chat UI makes all the time (hot_routes.py).
    if fast_path:
        app.add_middleware(GatewayFastPath)
    if hot_routes:
        app.add_middleware(HotRoutes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["*"], allow_headers=["*"], expose_headers=["X-Request-ID"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    return app


def _include_routers(app: FastAPI) -> None:
    app.include_router(ops.router)
    # Exactly /v1/mcp (no redirect to a trailing slash), answered by the MCP SDK. POST only:
    # stateless servers have no stream to offer on GET and no session to DELETE (405).
    app.router.add_route(mcp_api.PATH, app.state.mcp, methods=["POST"],
                         include_in_schema=False)
    app.include_router(auth.router, prefix="/llm/auth")
    app.include_router(auth.router, prefix="/auth", include_in_schema=False)
    app.include_router(user_settings.router)
    app.include_router(memories.router)
    app.include_router(admin_tools.router)
    app.include_router(admin_mcp_servers.router)
    app.include_router(admin_tool_calls.router)
    app.include_router(tools.router)
    app.include_router(tool_approvals.router)
    app.include_router(admin_users.router)
    app.include_router(admin_usage.router)
    app.include_router(admin_audit.router)
    app.include_router(chat.router)
    app.include_router(responses.router)
    app.include_router(models.router)
    app.include_router(usage.router)
    app.include_router(admin_providers.router)
    app.include_router(conversations.router)
    app.include_router(items.router)
    app.include_router(shares.router)
    app.include_router(public_shares.router)
    app.include_router(public_shares.page_router)
    app.include_router(webapp.router)  # last: `/` and static files never shadow an API route
