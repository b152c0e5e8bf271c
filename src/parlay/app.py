"""create_app(settings): routers, middleware and lifespan. No logic lives here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from parlay import __version__
from parlay.api import auth, ops
from parlay.api.errors import install_error_handlers
from parlay.config import Settings, load_settings
from parlay.context import AppContext
from parlay.db import migrate
from parlay.db.engine import make_engine, make_sessionmaker
from parlay.observability import Metrics, RequestContextMiddleware
from parlay.services.accounts import ensure_bootstrap_admin
from parlay.services.principals import PrincipalResolver

log = logging.getLogger("parlay")


async def build_context(settings: Settings) -> AppContext:
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.async_database_url)
    if settings.auto_migrate:
        await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    jwt_secret = settings.resolved_jwt_secret()
    principals = PrincipalResolver(
        sessionmaker, jwt_secret, admin_api_key=settings.admin_api_key,
        cache_ttl=settings.auth_cache_ttl,
    )
    ctx = AppContext(settings, engine, sessionmaker, jwt_secret, principals)
    ctx.resources.push_async_callback(engine.dispose)
    if settings.admin_api_key:
        async with sessionmaker() as session:
            await ensure_bootstrap_admin(session)
    return ctx


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx = await build_context(app.state.settings)
    app.state.ctx = ctx
    async with ctx.resources:
        await _start_components(app, ctx)
        yield


async def _start_components(app: FastAPI, ctx: AppContext) -> None:
    """Each resource's start-up hook; each registers its own shutdown on ctx.resources."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(
        title="Parlay",
        version=__version__,
        description="Self-hosted LLM API server: OpenAI-compatible gateway, conversations, "
        "accounts, model catalog, settings and admin-managed MCP tools.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    _include_routers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["*"], allow_headers=["*"], expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    return app


def _include_routers(app: FastAPI) -> None:
    app.include_router(ops.router)
    app.include_router(auth.router, prefix="/llm/auth")
    app.include_router(auth.router, prefix="/auth", include_in_schema=False)
