"""SQL for users, API keys and refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id, utcnow
from parlay.db.direct import DirectDB, Row
from parlay.db.models.accounts import ApiKey, RefreshToken, User


async def create_user(
    session: AsyncSession,
    *,
    role: str,
    email: str | None = None,
    password_hash: str | None = None,
    display_name: str | None = None,
    user_id: str | None = None,
) -> User:
    user = User(
        id=user_id or new_id("usr"),
        role=role,
        email=email,
        password_hash=password_hash,
        display_name=display_name,
    )
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def list_users(
    session: AsyncSession, *, limit: int, offset: int, role: str | None = None
) -> Sequence[User]:
    query = select(User).order_by(User.created_at.desc(), User.id).limit(limit).offset(offset)
    if role:
        query = query.where(User.role == role)
    return (await session.scalars(query)).all()


async def add_api_key(
    session: AsyncSession,
    *,
    user_id: str,
    name: str,
    key_hash: str,
    prefix: str,
    last4: str,
    expires_at: datetime | None,
) -> ApiKey:
    key = ApiKey(
        id=new_id("key"),
        user_id=user_id,
        name=name,
        key_hash=key_hash,
        prefix=prefix,
        last4=last4,
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    return key


async def list_api_keys(session: AsyncSession, user_id: str) -> Sequence[ApiKey]:
    query = (
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc())
    )
    return (await session.scalars(query)).all()


async def get_api_key(session: AsyncSession, user_id: str, key_id: str) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
    )


async def add_refresh_token(
    session: AsyncSession, *, user_id: str, family_id: str, token_hash: str, expires_at: datetime
) -> RefreshToken:
    token = RefreshToken(
        id=new_id("rt"),
        user_id=user_id,
        family_id=family_id,
        token_hash=token_hash,
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    return token


async def get_refresh_token_for_update(
    session: AsyncSession, token_hash: str
) -> RefreshToken | None:
    query = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return await session.scalar(query)


async def mark_refresh_token_used(session: AsyncSession, token_id: str) -> bool:
    """Atomically mark a token used; False when someone else used it first."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


async def revoke_refresh_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


USER_COLUMNS = (User.id, User.role, User.email, User.display_name, User.disabled,
                User.created_at)
_USER_ROW = select(*USER_COLUMNS).where(User.id == bindparam("user_id"))


async def user_row(db: DirectDB, user_id: str) -> Row | None:
    """USER_COLUMNS of a user (services.accounts.UserView's order), else None."""
    return await db.fetchrow(_USER_ROW, {"user_id": user_id})


_USER_STATE = select(User.role, User.disabled, User.tokens_valid_after).where(
    User.id == bindparam("user_id"))
_KEY_STATE = select(ApiKey.id, ApiKey.user_id, ApiKey.expires_at, ApiKey.revoked_at).where(
    ApiKey.key_hash == bindparam("key_hash"))


async def user_state(db: DirectDB, user_id: str) -> Row | None:
    """(role, disabled, tokens_valid_after) of a user, for the auth cache; else None."""
    return await db.fetchrow(_USER_STATE, {"user_id": user_id})


async def key_state(db: DirectDB, key_hash: str) -> Row | None:
    """(id, user_id, expires_at, revoked_at) of the API key with this hash, else None."""
    return await db.fetchrow(_KEY_STATE, {"key_hash": key_hash})
