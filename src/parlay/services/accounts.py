"""Account rules: guests, registration, login, refresh-token rotation, API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id, utcnow
from parlay.db.direct import DirectDB
from parlay.db.models.accounts import ApiKey, User
from parlay.db.repositories import accounts as repo
from parlay.errors import Conflict, NotFound, Unauthorized
from parlay.security import (
    encode_access_token,
    hash_password,
    new_api_key,
    new_refresh_token,
    sha256_hex,
    verify_password,
)
from parlay.services.principals import BOOTSTRAP_ADMIN_ID, PrincipalResolver


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    role: str
    email: str | None
    display_name: str | None
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(id=user.id, role=user.role, email=user.email, display_name=user.display_name,
                   disabled=user.disabled, created_at=user.created_at)


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    """An API key without its secret."""

    id: str
    name: str
    prefix: str
    last4: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        return cls(id=key.id, name=key.name, prefix=key.prefix, last4=key.last4,
                   created_at=key.created_at, expires_at=key.expires_at)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    user: UserView


async def read_user(db: DirectDB, user_id: str) -> UserView:
    """The caller's own user, straight on the database driver (db/direct.py)."""
    row = await repo.user_row(db, user_id)
    if row is None:
        raise Unauthorized("unknown user", code="invalid_token")
    return UserView(*row)


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    key: str
    record: ApiKeyView


class AccountService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        jwt_secret: str,
        access_ttl: int,
        refresh_ttl: int,
        principals: PrincipalResolver,
    ) -> None:
        self.session = session
        self._jwt_secret = jwt_secret
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._principals = principals

    async def guest_login(self) -> TokenPair:
        user = await repo.create_user(self.session, role="guest")
        return await self._issue(user)

    async def register(self, email: str, password: str, display_name: str | None) -> TokenPair:
        if await repo.get_user_by_email(self.session, email) is not None:
            raise Conflict("an account with this email already exists", code="email_taken",
                           param="email")
        user = await repo.create_user(
            self.session,
            role="user",
            email=email,
            password_hash=hash_password(password),
            display_name=display_name,
        )
        return await self._issue_unique(user)

    async def login(self, email: str, password: str) -> TokenPair:
        user = await repo.get_user_by_email(self.session, email)
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        if user.disabled:
            raise Unauthorized("this account is disabled", code="account_disabled")
        return await self._issue(user)

    async def upgrade(self, user_id: str, email: str, password: str,
                      display_name: str | None) -> TokenPair:
        user = await self._user(user_id)
        if user.role != "guest":
            raise Conflict("only a guest account can be upgraded", code="not_a_guest")
        if await repo.get_user_by_email(self.session, email) is not None:
            raise Conflict("an account with this email already exists", code="email_taken",
                           param="email")
        user.role = "user"
        user.email = email
        user.password_hash = hash_password(password)
        user.display_name = display_name or user.display_name
        self._principals.forget_user(user.id)
        return await self._issue_unique(user)

    async def refresh(self, refresh_token: str) -> TokenPair:
        stored = await repo.get_refresh_token_for_update(self.session, sha256_hex(refresh_token))
        if stored is None or stored.revoked_at is not None:
            raise Unauthorized("invalid refresh token", code="invalid_refresh_token")
        if stored.used_at is not None or not await repo.mark_refresh_token_used(
            self.session, stored.id
        ):
            # A rotated token came back: assume theft and end the whole login session.
            await repo.revoke_refresh_family(self.session, stored.family_id)
            await self.session.commit()
            raise Unauthorized("refresh token already used; session revoked",
                               code="refresh_token_reused")
        if stored.expires_at < utcnow():
            raise Unauthorized("refresh token expired", code="refresh_token_expired")
        user = await self._user(stored.user_id)
        if user.disabled:
            raise Unauthorized("this account is disabled", code="account_disabled")
        return await self._issue(user, family_id=stored.family_id)

    async def revoke(self, refresh_token: str) -> None:
        """RFC 7009 style: revoking an unknown token is not an error."""
        stored = await repo.get_refresh_token_for_update(self.session, sha256_hex(refresh_token))
        if stored is not None:
            await repo.revoke_refresh_family(self.session, stored.family_id)
            await self.session.commit()

    async def logout(self, user_id: str) -> None:
        """End every session of the user: refresh tokens and already issued access tokens."""
        user = await self._user(user_id)
        await repo.revoke_user_refresh_tokens(self.session, user_id)
        user.tokens_valid_after = utcnow()
        await self.session.commit()
        self._principals.forget_user(user_id)

    async def create_api_key(self, user_id: str, name: str,
                             expires_in: int | None) -> CreatedApiKey:
        await self._user(user_id)
        key = new_api_key()
        expires_at = utcnow() + timedelta(seconds=expires_in) if expires_in else None
        record = await repo.add_api_key(
            self.session,
            user_id=user_id,
            name=name,
            key_hash=sha256_hex(key),
            prefix=key[:7],
            last4=key[-4:],
            expires_at=expires_at,
        )
        await self.session.commit()
        return CreatedApiKey(key, ApiKeyView.of(record))

    async def list_api_keys(self, user_id: str) -> list[ApiKeyView]:
        return [ApiKeyView.of(key) for key in await repo.list_api_keys(self.session, user_id)]

    async def revoke_api_key(self, user_id: str, key_id: str) -> None:
        key = await repo.get_api_key(self.session, user_id, key_id)
        if key is None or key.revoked_at is not None:
            raise NotFound(f"no API key {key_id!r}", code="api_key_not_found", param="key_id")
        key.revoked_at = utcnow()
        await self.session.commit()
        self._principals.forget_key(key.key_hash)

    async def _user(self, user_id: str) -> User:
        user = await repo.get_user(self.session, user_id)
        if user is None:
            raise Unauthorized("unknown user", code="invalid_token")
        return user

    async def _issue_unique(self, user: User) -> TokenPair:
        try:
            return await self._issue(user)
        except IntegrityError:
            await self.session.rollback()
            raise Conflict("an account with this email already exists", code="email_taken",
                           param="email") from None

    async def _issue(self, user: User, family_id: str | None = None) -> TokenPair:
        access, expires_in = encode_access_token(
            self._jwt_secret, user.id, user.role, self._access_ttl
        )
        refresh = new_refresh_token()
        await repo.add_refresh_token(
            self.session,
            user_id=user.id,
            family_id=family_id or new_id("rtf"),
            token_hash=sha256_hex(refresh),
            expires_at=utcnow() + timedelta(seconds=self._refresh_ttl),
        )
        await self.session.commit()
        return TokenPair(access, expires_in, refresh, UserView.of(user))


async def ensure_bootstrap_admin(session: AsyncSession) -> None:
    """The user behind PARLAY_ADMIN_API_KEY: a real row so admin actions have an owner."""
    if await repo.get_user(session, BOOTSTRAP_ADMIN_ID) is None:
        await repo.create_user(
            session, role="admin", user_id=BOOTSTRAP_ADMIN_ID, display_name="bootstrap admin"
        )
        await session.commit()


async def create_admin_cli_key(session: AsyncSession, *, admin: bool, name: str) -> str:
    """For `parlay admin create-key`: a new user (admin or not) and an API key for it."""
    user = await repo.create_user(session, role="admin" if admin else "user", display_name=name)
    key = new_api_key()
    await repo.add_api_key(
        session,
        user_id=user.id,
        name=name,
        key_hash=sha256_hex(key),
        prefix=key[:7],
        last4=key[-4:],
        expires_at=None,
    )
    await session.commit()
    return key

