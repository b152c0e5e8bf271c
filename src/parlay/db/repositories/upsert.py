"""INSERT ... ON CONFLICT DO NOTHING for the two supported dialects."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import Base


async def insert_ignoring_conflicts(
    session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]
) -> None:
    """Insert rows whose primary key is not taken yet; safe when several workers race."""
    if not rows:
        return
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(model).values(rows).on_conflict_do_nothing())
