"""Who is calling: bearer JWTs, `sk_` API keys and the bootstrap admin key.

JWTs are verified in-process; the user's current state (role, disabled, logout time) and API key
lookups are cached for `auth_cache_ttl` seconds, so the hot path makes no DB round trip per
request. Changes made through this process invalidate the cache at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import jwt

from parlay.db.direct import DirectDB
from parlay.db.repositories import accounts as repo
from parlay.errors import Forbidden, Unauthorized
from parlay.security import (
    API_KEY_PREFIX,
    AccessClaims,
    constant_time_equals,
    decode_access_token,
    sha256_hex,
)

BOOTSTRAP_ADMIN_ID = "usr_admin"
MAX_CACHED = 50_000
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: str
    api_key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class _UserState:
    role: str
    disabled: bool
    tokens_valid_after: float


@dataclass(frozen=True, slots=True)
class _KeyState:
    key_id: str
    user_id: str
    expires_at: datetime | None
    revoked: bool


class PrincipalResolver:
    def __init__(
        self,
        db: DirectDB,
        jwt_secret: str,
        *,
        admin_api_key: str | None,
        cache_ttl: float,
    ) -> None:
        self._db = db  # lookups straight on the driver (db/direct.py): a cache miss is cheap
        self._jwt_secret = jwt_secret
        self._admin_api_key = admin_api_key
        self._users = _TtlCache[_UserState | None](self._load_user, cache_ttl)
        self._keys = _TtlCache[_KeyState | None](self._load_key, cache_ttl)
        self._verified: dict[str, AccessClaims] = {}  # access token -> its verified claims
        # Tells other workers to forget too (set when Redis is configured).
        self.broadcast: Callable[[str, str], None] | None = None

    async def resolve(self, authorization: str | None, x_api_key: str | None) -> Principal:
        credential = _bearer(authorization) or (x_api_key or "").strip()
        if not credential:
            raise Unauthorized(
                "missing credentials: send 'Authorization: Bearer <token>' or 'X-API-Key'",
                code="missing_credentials",
            )
        if self._admin_api_key and constant_time_equals(credential, self._admin_api_key):
            return Principal(BOOTSTRAP_ADMIN_ID, "admin")
        if credential.startswith(API_KEY_PREFIX):
            return await self._from_api_key(credential)
        return await self._from_jwt(credential)

    async def _from_jwt(self, token: str) -> Principal:
        claims = self._verified.get(token)
        if claims is None or claims.expires_at <= time.time():
            claims = self._verify(token)
        state = await self._user_state(claims.user_id)
        if state is None or claims.issued_at < state.tokens_valid_after:
            raise Unauthorized("access token revoked", code="token_revoked")
        _refuse_disabled(state)
        return Principal(claims.user_id, state.role)

    def _verify(self, token: str) -> AccessClaims:
        """Check a token's signature and claims, once per token while it is valid: the same
        string under the same secret verifies the same way (revocation is the user state's
        business, checked on every request)."""
        self._verified.pop(token, None)
        try:
            claims = decode_access_token(self._jwt_secret, token)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("access token expired", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid access token", code="invalid_token") from None
        if len(self._verified) >= MAX_CACHED:
            now = time.time()
            self._verified = {t: c for t, c in self._verified.items() if c.expires_at > now}
            if len(self._verified) >= MAX_CACHED:
                self._verified.clear()
        self._verified[token] = claims
        return claims

    async def _from_api_key(self, key: str) -> Principal:
        key_state = await self._key_state(sha256_hex(key))
        if key_state is None or key_state.revoked:
            raise Unauthorized("invalid or revoked API key", code="invalid_api_key")
        if key_state.expires_at is not None and key_state.expires_at.timestamp() < time.time():
            raise Unauthorized("API key expired", code="api_key_expired")
        state = await self._user_state(key_state.user_id)
        if state is None:
            raise Unauthorized("invalid or revoked API key", code="invalid_api_key")
        _refuse_disabled(state)
        return Principal(key_state.user_id, state.role, key_state.key_id)

    async def _user_state(self, user_id: str) -> _UserState | None:
        return await self._users.get(user_id)

    async def _key_state(self, key_hash: str) -> _KeyState | None:
        return await self._keys.get(key_hash)

    async def _load_user(self, user_id: str) -> _UserState | None:
        row = await repo.user_state(self._db, user_id)
        if row is None:
            return None
        role, disabled, tokens_valid_after = row
        valid_after = tokens_valid_after.timestamp() if tokens_valid_after else 0.0
        return _UserState(role, disabled, valid_after)

    async def _load_key(self, key_hash: str) -> _KeyState | None:
        row = await repo.key_state(self._db, key_hash)
        if row is None:
            return None
        key_id, user_id, expires_at, revoked_at = row
        return _KeyState(key_id, user_id, expires_at, revoked_at is not None)

    def forget_user(self, user_id: str, *, broadcast: bool = True) -> None:
        self._users.forget(user_id)
        if broadcast and self.broadcast is not None:
            self.broadcast("user", user_id)

    def forget_key(self, key_hash: str, *, broadcast: bool = True) -> None:
        self._keys.forget(key_hash)
        if broadcast and self.broadcast is not None:
            self.broadcast("key", key_hash)


class _TtlCache(Generic[V]):
    """Values loaded on demand and kept `ttl` seconds. Concurrent misses for one key share a
    single load, and a `forget` during a load keeps that (possibly stale) result out."""

    def __init__(self, load: Callable[[str], Awaitable[V]], ttl: float) -> None:
        self._load = load
        self._ttl = ttl
        self._values: dict[str, tuple[float, V]] = {}
        self._loading: dict[str, asyncio.Future[V]] = {}
        self._generation: dict[str, int] = {}

    async def get(self, key: str) -> V:
        cached = self._values.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fill(key))
            self._loading[key] = pending
            pending.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(pending)

    def _finished(self, key: str, done: asyncio.Future[V]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]

    async def _fill(self, key: str) -> V:
        generation = self._generation.get(key, 0)
        started = time.monotonic()
        value = await self._load(key)
        if self._generation.get(key, 0) == generation:
            if len(self._values) >= MAX_CACHED:
                self._evict_expired()
            self._values[key] = (started, value)
        return value

    def _evict_expired(self) -> None:
        now = time.monotonic()
        self._values = {k: v for k, v in self._values.items() if now - v[0] < self._ttl}
        if len(self._values) >= MAX_CACHED:
            self._values.clear()

    def forget(self, key: str) -> None:
        self._values.pop(key, None)
        self._loading.pop(key, None)
        self._generation[key] = self._generation.get(key, 0) + 1
        if len(self._generation) > MAX_CACHED:
            # Only loads in flight right now can still read these counters.
            self._generation = {k: g for k, g in self._generation.items() if k in self._loading}


def _bearer(authorization: str | None) -> str:
    if not authorization:
        return ""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _refuse_disabled(state: _UserState) -> None:
    if state.disabled:
        raise Forbidden("this account is disabled", code="account_disabled")
