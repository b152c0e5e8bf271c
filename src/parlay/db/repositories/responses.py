"""SQL for stored responses: create, finalise, ownership lookups, the previous_response_id
chain (one recursive query), input-item pages, deletion and the crash sweep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.models.responses import StoredResponse, StoredResponseItem

# How far back a previous_response_id chain is followed (responses, not items).
MAX_CHAIN_DEPTH = 1000


@dataclass(frozen=True, slots=True)
class NewResponseItem:
    id: str
    direction: str  # "input" | "output"
    data: dict[str, Any]


def add_response(session: AsyncSession, row: StoredResponse,
                 items: Sequence[NewResponseItem]) -> None:
    """Stage a new response and its first items (written with the caller's commit)."""
    session.add(row)
    add_items(session, row.id, 0, items)


def add_items(session: AsyncSession, response_id: str, first_position: int,
              items: Sequence[NewResponseItem]) -> None:
    session.add_all(
        StoredResponseItem(id=item.id, response_id=response_id, position=first_position + i,
                           direction=item.direction, type=str(item.data.get("type")),
                           data=item.data)
        for i, item in enumerate(items)
    )


async def get_owned(session: AsyncSession, user_id: str, response_id: str,
                    ) -> StoredResponse | None:
    return await session.scalar(
        select(StoredResponse).where(StoredResponse.id == response_id,
                                     StoredResponse.user_id == user_id))


async def items_of(session: AsyncSession, response_id: str,
                   direction: str | None = None) -> list[StoredResponseItem]:
    query = select(StoredResponseItem).where(StoredResponseItem.response_id == response_id)
    if direction is not None:
        query = query.where(StoredResponseItem.direction == direction)
    return list((await session.scalars(query.order_by(StoredResponseItem.position))).all())


async def chain_items(session: AsyncSession, user_id: str, response_id: str, *,
                      limit: int) -> list[dict[str, Any]]:
    """The items of a response and of every response before it (previous_response_id),
    oldest first: each response's input items, then its output items. At most the newest
    `limit` items; a deleted link ends the chain."""
    chain = (select(StoredResponse.id, StoredResponse.previous_response_id,
                    literal(0).label("depth"))
             .where(StoredResponse.id == response_id, StoredResponse.user_id == user_id)
             .cte("chain", recursive=True))
    earlier = (select(StoredResponse.id, StoredResponse.previous_response_id,
                      (chain.c.depth + 1).label("depth"))
               .join(chain, StoredResponse.id == chain.c.previous_response_id)
               .where(StoredResponse.user_id == user_id, chain.c.depth < MAX_CHAIN_DEPTH))
    chain = chain.union_all(earlier)
    rows = await session.scalars(
        select(StoredResponseItem.data)
        .join(chain, StoredResponseItem.response_id == chain.c.id)
        .order_by(chain.c.depth, StoredResponseItem.position.desc())
        .limit(limit))
    return list(reversed(rows.all()))


async def input_page(session: AsyncSession, response_id: str, *, limit: int,
                     after_position: int | None, ascending: bool,
                     ) -> list[StoredResponseItem]:
    query = select(StoredResponseItem).where(StoredResponseItem.response_id == response_id,
                                             StoredResponseItem.direction == "input")
    position = StoredResponseItem.position
    if after_position is not None:
        query = query.where(position > after_position if ascending else position < after_position)
    query = query.order_by(position if ascending else position.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def input_position(session: AsyncSession, response_id: str, item_id: str) -> int | None:
    return await session.scalar(
        select(StoredResponseItem.position)
        .where(StoredResponseItem.response_id == response_id,
               StoredResponseItem.id == item_id,
               StoredResponseItem.direction == "input"))


async def finalize(session: AsyncSession, response_id: str, *, status: str,
                   usage: dict[str, Any] | None, error: dict[str, Any] | None,
                   incomplete_details: dict[str, Any] | None,
                   completed_at: datetime | None) -> bool:
    """Write a streamed response's end state; False if it was deleted meanwhile."""
    result = await session.execute(
        update(StoredResponse).where(StoredResponse.id == response_id)
        .values(status=status, usage=usage, error=error, incomplete_details=incomplete_details,
                completed_at=completed_at, updated_at=utcnow()))
    return bool(result.rowcount)


async def touch(session: AsyncSession, response_id: str) -> None:
    await session.execute(
        update(StoredResponse)
        .where(StoredResponse.id == response_id, StoredResponse.status == "in_progress")
        .values(updated_at=utcnow()))


async def delete_owned(session: AsyncSession, user_id: str, response_id: str) -> bool:
    result = await session.execute(
        delete(StoredResponse).where(StoredResponse.id == response_id,
                                     StoredResponse.user_id == user_id))
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
