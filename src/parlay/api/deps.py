"""FastAPI dependencies as typed aliases, so each route signature reads as what it needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.config import Settings
from parlay.context import AppContext
from parlay.db.direct import DirectDB
from parlay.errors import Forbidden
from parlay.services.accounts import AccountService
from parlay.services.principals import Principal
from parlay.services.ratelimit import route_group


async def get_context(request: Request) -> AppContext:
    # async on purpose: FastAPI runs plain `def` dependencies in a thread pool (a hop per request).
    return request.app.state.ctx


async def get_settings(request: Request) -> Settings:
    return request.app.state.ctx.settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.ctx.sessionmaker() as session:
        yield session


async def get_direct(request: Request) -> DirectDB:
    return request.app.state.ctx.direct


async def get_principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    ctx = request.app.state.ctx
    principal = await ctx.principals.resolve(authorization, x_api_key)
    request.state.user_id = principal.user_id
    group = route_group(request.method, request.scope["path"])  # not .url: parsed per call
    if group in ("chat", "api"):
        subject = f"key:{principal.api_key_id}" if principal.api_key_id else principal.user_id
        request.state.ratelimit = await ctx.limiter.hit(group, subject)
    return principal


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("admin role required", code="admin_required")
    return principal


Context = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
DirectDep = Annotated[DirectDB, Depends(get_direct)]
CurrentUser = Annotated[Principal, Depends(get_principal)]
AdminUser = Annotated[Principal, Depends(require_admin)]


async def get_account_service(ctx: Context, session: SessionDep) -> AccountService:
    s = ctx.settings
    return AccountService(
        session,
        jwt_secret=ctx.jwt_secret,
        access_ttl=s.access_token_ttl,
        refresh_ttl=s.refresh_token_ttl,
        principals=ctx.principals,
    )


Accounts = Annotated[AccountService, Depends(get_account_service)]
