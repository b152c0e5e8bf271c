"""/llm/auth/* (also /auth/*): guest login, register, login, tokens, API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Body, status
from pydantic import BaseModel, Field
from starlette.responses import Response

from parlay.api.deps import Accounts, CurrentUser, DirectDep
from parlay.api.schemas import ERROR_RESPONSES, Data, Email, ViewOut
from parlay.db.direct import DirectDB
from parlay.services.accounts import TokenPair, read_user

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    user_id: str
    role: str


class Credentials(BaseModel):
    email: Email
    password: str = Field(min_length=1, max_length=1024)


class Registration(BaseModel):
    email: Email
    password: str = Field(min_length=8, max_length=1024)
    display_name: str | None = Field(default=None, max_length=200)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class RevokeRequest(BaseModel):
    token: str | None = Field(default=None, max_length=512)
    refresh_token: str | None = Field(default=None, max_length=512)


class UserOut(ViewOut):
    id: str
    object: Literal["user"] = "user"
    role: str
    email: str | None
    display_name: str | None
    disabled: bool
    created_at: datetime


class ApiKeyCreate(BaseModel):
    name: str = Field(default="", max_length=200)
    expires_in: int | None = Field(default=None, ge=60, le=10 * 365 * 24 * 3600,
                                   description="seconds until the key stops working")


class ApiKeyOut(ViewOut):
    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    prefix: str
    last4: str
    created_at: datetime
    expires_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the secret: shown this once, never again")


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(access_token=pair.access_token, expires_in=pair.expires_in,
                         refresh_token=pair.refresh_token, user_id=pair.user.id,
                         role=pair.user.role)


@router.post("/guest-login", status_code=status.HTTP_201_CREATED, response_model=TokenResponse)
async def guest_login(accounts: Accounts) -> TokenResponse:
    return _tokens(await accounts.guest_login())


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=TokenResponse)
async def register(body: Registration, accounts: Accounts) -> TokenResponse:
    return _tokens(await accounts.register(body.email.lower(), body.password, body.display_name))


@router.post("/login", response_model=TokenResponse)
async def login(body: Credentials, accounts: Accounts) -> TokenResponse:
    return _tokens(await accounts.login(body.email.lower(), body.password))


@router.post("/refresh-token", response_model=TokenResponse)
async def refresh_token(body: RefreshRequest, accounts: Accounts) -> TokenResponse:
    return _tokens(await accounts.refresh(body.refresh_token))


@router.post("/revoke", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def revoke(body: RevokeRequest, accounts: Accounts) -> Response:
    token = body.token or body.refresh_token
    if token:
        await accounts.revoke(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(user: CurrentUser, accounts: Accounts) -> Response:
    await accounts.logout(user.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def me_body(db: DirectDB, user_id: str) -> bytes:
    """Data[UserOut] of the caller, read straight on the driver (also for api/hot_routes.py)."""
    user = await read_user(db, user_id)
    return orjson.dumps({"data": {
        "id": user.id, "object": "user", "role": user.role, "email": user.email,
        "display_name": user.display_name, "disabled": user.disabled,
        "created_at": user.created_at}}, option=orjson.OPT_UTC_Z)


@router.get("/me", response_model=Data[UserOut])
async def me(user: CurrentUser, db: DirectDep) -> Response:
    return Response(await me_body(db, user.user_id), media_type="application/json")


@router.post("/upgrade", response_model=TokenResponse)
async def upgrade(body: Registration, user: CurrentUser, accounts: Accounts) -> TokenResponse:
    return _tokens(await accounts.upgrade(user.user_id, body.email.lower(), body.password,
                                          body.display_name))


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=Data[ApiKeyCreated])
async def create_api_key(
    user: CurrentUser, accounts: Accounts,
    body: Annotated[ApiKeyCreate | None, Body()] = None,
) -> Data[ApiKeyCreated]:
    body = body or ApiKeyCreate()
    created = await accounts.create_api_key(user.user_id, body.name, body.expires_in)
    out = ApiKeyOut.of(created.record)
    return Data(data=ApiKeyCreated(**out.model_dump(), key=created.key))


@router.get("/api-keys", response_model=Data[list[ApiKeyOut]])
async def list_api_keys(user: CurrentUser, accounts: Accounts) -> Data[list[ApiKeyOut]]:
    return Data(data=[ApiKeyOut.of(k) for k in await accounts.list_api_keys(user.user_id)])


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def delete_api_key(key_id: str, user: CurrentUser, accounts: Accounts) -> Response:
    await accounts.revoke_api_key(user.user_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
