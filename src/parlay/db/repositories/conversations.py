"""SQL for conversations: ownership lookups, keyset/offset listing, position allocation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Select,
    String,
    bindparam,
    delete,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from parlay.db.base import new_id, utcnow
from parlay.db.models.conversations import Conversation

# Offsets from which a page is located on the index first (see list_page).
SEEK_FROM_OFFSET = 100


async def reads_without_transaction(session: AsyncSession) -> None:
    """Run this session's statements in autocommit mode (when it has not begun yet).

    A page read is one statement: it needs no transaction, and skipping BEGIN and ROLLBACK
    saves two of its three database round trips.
    """
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def create_conversation(
    session: AsyncSession,
    *,
    user_id: str,
    title: str | None,
    meta: dict[str, Any],
    model: str | None,
    project_id: str | None,
) -> Conversation:
    now = utcnow()
    conversation = Conversation(
        id=new_id("conv"), user_id=user_id, title=title, meta=meta, model=model,
        project_id=project_id, item_count=0, next_position=0, created_at=now, updated_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def get_owned(session: AsyncSession, user_id: str, conversation_id: str,
                    ) -> Conversation | None:
    return await session.scalar(
        select(Conversation).where(Conversation.id == conversation_id,
                                   Conversation.user_id == user_id)
    )


async def list_page(
    session: AsyncSession,
    user_id: str,
    *,
    limit: int,
    offset: int,
    after: tuple[datetime, str] | None,
    ascending: bool,
    project_id: str | None = None,
) -> tuple[list[Conversation], int | None]:
    """Up to `limit` conversations by (updated_at, id), and the user's total, in one round
    trip; `after` is the cursor row's key. An empty page gives ([], None).

    A deep OFFSET would fetch every skipped row from the table; past SEEK_FROM_OFFSET the
    page's first key is found on the (user_id, updated_at, id) index alone (index-only scan)
    and the page is read from there like a cursor page.
    """
    params: dict[str, Any] = {"user_id": user_id, "project_id": project_id, "offset": offset,
                              "limit": limit}
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    cursor = "after" if after is not None else None
    has_project = project_id is not None
    if offset >= SEEK_FROM_OFFSET:
        start = (await session.execute(_page_start(ascending, has_project, cursor),
                                       params)).first()
        if start is None:
            return [], None
        params.update(after_at=start[0], after_id=start[1], offset=0)
        cursor = "from"
    rows = (await session.execute(_page(ascending, has_project, cursor), params)).all()
    return [row[0] for row in rows], (int(rows[0][1]) if rows else None)


# Statements are built once per shape (bound parameters), so a page request pays neither
# for building the query nor for computing its cache key.

def _where(table: Any, ascending: bool, has_project: bool, cursor: str | None) -> list[Any]:
    where = [table.user_id == bindparam("user_id")]
    if has_project:
        where.append(table.project_id == bindparam("project_id"))
    if cursor is not None:  # "after": strictly past the key; "from": the key included
        row = tuple_(table.updated_at, table.id)
        key = tuple_(bindparam("after_at", type_=Conversation.updated_at.type),
                     bindparam("after_id", type_=String()))
        if ascending:
            where.append(row > key if cursor == "after" else row >= key)
        else:
            where.append(row < key if cursor == "after" else row <= key)
    return where


def _ordered(table: Any, ascending: bool) -> list[Any]:
    if ascending:
        return [table.updated_at, table.id]
    return [table.updated_at.desc(), table.id.desc()]


@cache
def _page(ascending: bool, has_project: bool, cursor: str | None) -> Select[Any]:
    counted = aliased(Conversation)
    total = (select(func.count()).select_from(counted)
             .where(*_where(counted, ascending, has_project, None)).scalar_subquery())
    return (select(Conversation, total.label("total"))
            .where(*_where(Conversation, ascending, has_project, cursor))
            .order_by(*_ordered(Conversation, ascending))
            .offset(bindparam("offset")).limit(bindparam("limit")))


@cache
def _page_start(ascending: bool, has_project: bool, cursor: str | None) -> Select[Any]:
    return (select(Conversation.updated_at, Conversation.id)
            .where(*_where(Conversation, ascending, has_project, cursor))
            .order_by(*_ordered(Conversation, ascending))
            .offset(bindparam("offset")).limit(1))


def _title_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_page(
    session: AsyncSession,
    user_id: str,
    title: str,
    *,
    limit: int,
    offset: int,
    after: tuple[datetime, str] | None,
    ascending: bool,
    project_id: str | None = None,
) -> tuple[list[Conversation], int]:
    """Like list_page, restricted to titles containing `title` (case-insensitive). Scans the
    user's own conversations on the (user_id, updated_at, id) index: a search box, not a
    full-text index."""
    where = [Conversation.user_id == user_id,
             Conversation.title.ilike(_title_pattern(title), escape="\\")]
    if project_id is not None:
        where.append(Conversation.project_id == project_id)
    total = int(await session.scalar(select(func.count()).select_from(Conversation)
                                     .where(*where)) or 0)
    if after is not None:
        row = tuple_(Conversation.updated_at, Conversation.id)
        key = tuple_(literal(after[0], Conversation.updated_at.type), literal(after[1], String()))
        where.append(row > key if ascending else row < key)
    rows = await session.scalars(select(Conversation).where(*where)
                                 .order_by(*_ordered(Conversation, ascending))
                                 .offset(offset).limit(limit))
    return list(rows), total


async def count_owned(session: AsyncSession, user_id: str, project_id: str | None = None) -> int:
    query = select(func.count()).select_from(Conversation).where(Conversation.user_id == user_id)
    if project_id is not None:
        query = query.where(Conversation.project_id == project_id)
    return int(await session.scalar(query) or 0)


async def allocate_positions(session: AsyncSession, conversation_id: str, count: int, *,
                             moved: int = 0) -> int:
    """Reserve `count` consecutive positions and return the first one; `moved` of them are
    for items that move there (they are not counted again).

    One UPDATE ... RETURNING: it also takes the row lock, so concurrent appends to the same
    conversation serialise here instead of colliding on the (conversation, position) key.
    """
    next_position = await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(next_position=Conversation.next_position + count,
                item_count=Conversation.item_count + count - moved, updated_at=utcnow())
        .returning(Conversation.next_position)
    )
    if next_position is None:
        raise LookupError(conversation_id)
    return int(next_position) - count


async def item_removed(session: AsyncSession, conversation_id: str) -> None:
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(item_count=Conversation.item_count - 1, updated_at=utcnow())
    )


async def touch(session: AsyncSession, conversation_id: str) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(updated_at=utcnow())
    )


async def delete_owned(session: AsyncSession, user_id: str, ids: Sequence[str]) -> int:
    """Hard-delete the caller's conversations among `ids`; items cascade. Returns the count."""
    if not ids:
        return 0
    result = await session.execute(
        delete(Conversation).where(Conversation.user_id == user_id, Conversation.id.in_(ids))
    )
    return int(result.rowcount or 0)


async def delete_all_owned(session: AsyncSession, user_id: str) -> int:
    result = await session.execute(delete(Conversation).where(Conversation.user_id == user_id))
    return int(result.rowcount or 0)
