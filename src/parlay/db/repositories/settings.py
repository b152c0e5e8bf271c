"""SQL for per-user settings."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.direct import DirectDB, Row
from parlay.db.models.settings import UserSettings
from parlay.db.repositories.upsert import insert_ignoring_conflicts


async def get(session: AsyncSession, user_id: str) -> UserSettings | None:
    return await session.get(UserSettings, user_id)


async def get_or_create_for_update(session: AsyncSession, user_id: str) -> UserSettings:
    """The user's row, created empty if missing, locked for a read-modify-write."""
    now = utcnow()
    await insert_ignoring_conflicts(session, UserSettings, [{
        "user_id": user_id, "profile_settings": {}, "memory_config": {},
        "advanced_settings": {}, "preferences": {}, "created_at": now, "updated_at": now,
    }])
    query = (
        select(UserSettings)
        .where(UserSettings.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = await session.scalar(query)
    assert row is not None  # inserted above or already there
    return row


SETTINGS_COLUMNS = (
    UserSettings.profile_settings, UserSettings.memory_config, UserSettings.advanced_settings,
    UserSettings.preferences, UserSettings.updated_at,
)
_ROW = select(*SETTINGS_COLUMNS).where(UserSettings.user_id == bindparam("user_id"))


async def row(db: DirectDB, user_id: str) -> Row | None:
    """SETTINGS_COLUMNS of the user's settings; None when they never changed any."""
    return await db.fetchrow(_ROW, {"user_id": user_id})
