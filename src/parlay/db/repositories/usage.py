"""SQL for per-day usage totals: batched upserts that add to the existing counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

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
