"""SQL for per-day usage totals: batched upserts that add to the existing counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.models.accounts import User
from parlay.db.models.gateway import UsageDaily


async def add_usage(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """rows: user_id, day, model, requests, prompt_tokens, completion_tokens (added on)."""
    if not rows:
        return
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = insert(UsageDaily).values(rows)
    table = UsageDaily.__table__
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.day, table.c.model],
        set_={
            "requests": table.c.requests + statement.excluded.requests,
            "prompt_tokens": table.c.prompt_tokens + statement.excluded.prompt_tokens,
            "completion_tokens": table.c.completion_tokens + statement.excluded.completion_tokens,
        },
    )
    await session.execute(statement)


async def usage_of_user(
    session: AsyncSession, user_id: str, start: date, end: date
) -> Sequence[UsageDaily]:
    query = (
        select(UsageDaily)
        .where(UsageDaily.user_id == user_id, UsageDaily.day >= start, UsageDaily.day <= end)
        .order_by(UsageDaily.day.desc(), UsageDaily.model)
    )
    return (await session.scalars(query)).all()


def _sums() -> list[Any]:
    return [func.sum(UsageDaily.requests), func.sum(UsageDaily.prompt_tokens),
            func.sum(UsageDaily.completion_tokens)]


async def usage_by_day_and_model(session: AsyncSession, start: date, end: date,
                                 ) -> list[tuple[date, str, int, int, int]]:
    """Every user's usage summed per (day, model), newest day first."""
    query = (
        select(UsageDaily.day, UsageDaily.model, *_sums())
        .where(UsageDaily.day >= start, UsageDaily.day <= end)
        .group_by(UsageDaily.day, UsageDaily.model)
        .order_by(UsageDaily.day.desc(), UsageDaily.model)
    )
    return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4]))
            for r in (await session.execute(query)).all()]


async def top_users(session: AsyncSession, start: date, end: date, limit: int,
                    ) -> list[tuple[str, str | None, str, int, int, int]]:
    """The heaviest users by tokens: (user_id, email, role, requests, prompt, completion)."""
    tokens = func.sum(UsageDaily.prompt_tokens + UsageDaily.completion_tokens)
    query = (
        select(User.id, User.email, User.role, *_sums())
        .join(User, User.id == UsageDaily.user_id)
        .where(UsageDaily.day >= start, UsageDaily.day <= end)
        .group_by(User.id, User.email, User.role)
        .order_by(tokens.desc(), User.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]))
            for r in (await session.execute(query)).all()]
