"""SQL for stored responses: one row per response (its items are JSON arrays on it), so a
store is one statement; the previous_response_id chain is one recursive query."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.models.responses import StoredResponse
from parlay.db.repositories.conversations import reads_without_transaction


async def single_statement(session: AsyncSession) -> None:
    """On PostgreSQL the session's next statement stands alone (autocommit): a one-row write
    then needs no BEGIN and COMMIT round trips. SQLite runs in process, where switching the
    mode costs more thread hops than it saves. Callers commit either way (a no-op when
    autocommitted)."""
    if session.bind.dialect.name == "postgresql":
        await reads_without_transaction(session)


async def insert_response(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(StoredResponse).values(**values))


async def get_owned(session: AsyncSession, user_id: str, response_id: str,
                    ) -> StoredResponse | None:
    return await session.scalar(
        select(StoredResponse).where(StoredResponse.id == response_id,
                                     StoredResponse.user_id == user_id))


async def chain(session: AsyncSession, user_id: str, response_id: str, *,
                max_depth: int) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(input items, output items) of a response and of up to `max_depth` responses before
    it (previous_response_id), oldest first; a deleted link ends the chain."""
    links = (select(StoredResponse.id, StoredResponse.previous_response_id,
                    literal(0).label("depth"))
             .where(StoredResponse.id == response_id, StoredResponse.user_id == user_id)
             .cte("chain", recursive=True))
    earlier = (select(StoredResponse.id, StoredResponse.previous_response_id,
                      (links.c.depth + 1).label("depth"))
               .join(links, StoredResponse.id == links.c.previous_response_id)
               .where(StoredResponse.user_id == user_id, links.c.depth < max_depth))
    links = links.union_all(earlier)
    rows = await session.execute(
        select(StoredResponse.input_items, StoredResponse.output)
        .join(links, StoredResponse.id == links.c.id)
        .order_by(links.c.depth.desc()))
    return [(list(row.input_items), list(row.output)) for row in rows]


async def finalize(session: AsyncSession, response_id: str, values: dict[str, Any]) -> bool:
    """Write a streamed response's end state; False if it was deleted meanwhile."""
    result = await session.execute(
        update(StoredResponse).where(StoredResponse.id == response_id)
        .values(**values, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


async def touch(session: AsyncSession, response_id: str) -> None:
    await session.execute(
        update(StoredResponse)
        .where(StoredResponse.id == response_id, StoredResponse.status == "in_progress")
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False))


async def delete_owned(session: AsyncSession, user_id: str, response_id: str) -> bool:
    result = await session.execute(
        delete(StoredResponse).where(StoredResponse.id == response_id,
                                     StoredResponse.user_id == user_id)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


async def mark_stale_in_progress_incomplete(session: AsyncSession, *, older_than: timedelta,
                                            details: dict[str, Any]) -> int:
    """Responses a crash left `in_progress` become `incomplete` (the caller commits)."""
    cutoff = utcnow() - older_than
    result = await session.execute(
        update(StoredResponse)
        .where(StoredResponse.status == "in_progress", StoredResponse.updated_at < cutoff)
        .values(status="incomplete", incomplete_details=details, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)
