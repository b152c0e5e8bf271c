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
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from parlay.db.base import new_id, utcnow
from parlay.db.direct import DirectDB, Row
from parlay.db.models.conversations import Conversation

# What a read returns per conversation, in services.conversations.ConversationView's order.
CONVERSATION_COLUMNS = (
    Conversation.id, Conversation.title, Conversation.meta, Conversation.model,
    Conversation.project_id, Conversation.item_count, Conversation.created_at,
    Conversation.updated_at,
)

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


_OWNED_ROW = select(*CONVERSATION_COLUMNS).where(
    Conversation.id == bindparam("conversation_id"), Conversation.user_id == bindparam("user_id"))
_OWNED_KEY = select(Conversation.updated_at, Conversation.id).where(
    Conversation.id == bindparam("conversation_id"), Conversation.user_id == bindparam("user_id"))


async def owned_row(db: DirectDB, user_id: str, conversation_id: str) -> Row | None:
    """CONVERSATION_COLUMNS of the user's conversation, else None."""
    return await db.fetchrow(_OWNED_ROW, {"conversation_id": conversation_id,
                                          "user_id": user_id})


async def owned_key(db: DirectDB, user_id: str, conversation_id: str,
                    ) -> tuple[datetime, str] | None:
    """The (updated_at, id) listing key of the user's conversation (a cursor), else None."""
    row = await db.fetchrow(_OWNED_KEY, {"conversation_id": conversation_id,
                                         "user_id": user_id})
    return None if row is None else (row[0], row[1])


async def list_page(
    db: DirectDB,
    user_id: str,
    *,
    limit: int,
    offset: int,
    after: tuple[datetime, str] | None,
    ascending: bool,
    project_id: str | None = None,
    title: str | None = None,
) -> tuple[list[Row], int | None]:
    """Up to `limit` conversations (CONVERSATION_COLUMNS) by (updated_at, id), and the
    user's total, in one round trip; `after` is the cursor row's key; `title` keeps those
    whose title contains it (case-insensitive: the user's own conversations are scanned on
    the index, a search box, not a full-text index). An empty page gives ([], None).

    A deep OFFSET would fetch every skipped row from the table; past SEEK_FROM_OFFSET the
    page's first key is found on the (user_id, updated_at, id) index alone (index-only scan)
    and the page is read from there like a cursor page.
    """
    params: dict[str, Any] = {"user_id": user_id, "project_id": project_id, "offset": offset,
                              "limit": limit, "title": _title_pattern(title or "")}
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    cursor = "after" if after is not None else None
    filters = (project_id is not None, bool(title))
    if offset >= SEEK_FROM_OFFSET:
        start = await db.fetchrow(_page_start(ascending, filters, cursor), params)
        if start is None:
            return [], None
        params.update(after_at=start[0], after_id=start[1], offset=0)
        cursor = "from"
    rows = await db.fetch(_page(ascending, filters, cursor), params)
    return rows, (int(rows[0][-1]) if rows else None)


# Statements are built once per shape (bound parameters), so a page request pays neither
# for building the query nor for computing its cache key.

Filters = tuple[bool, bool]  # by project, by title


def _title_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(table: Any, ascending: bool, filters: Filters, cursor: str | None) -> list[Any]:
    by_project, by_title = filters
    where = [table.user_id == bindparam("user_id")]
    if by_project:
        where.append(table.project_id == bindparam("project_id"))
    if by_title:
        where.append(table.title.ilike(bindparam("title", type_=String()), escape="\\"))
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
def _page(ascending: bool, filters: Filters, cursor: str | None) -> Select[Any]:
    counted = aliased(Conversation)
    total = (select(func.count()).select_from(counted)
             .where(*_where(counted, ascending, filters, None)).scalar_subquery())
    return (select(*CONVERSATION_COLUMNS, total.label("total"))
            .where(*_where(Conversation, ascending, filters, cursor))
            .order_by(*_ordered(Conversation, ascending))
            .offset(bindparam("offset")).limit(bindparam("limit")))


@cache
def _page_start(ascending: bool, filters: Filters, cursor: str | None) -> Select[Any]:
    return (select(Conversation.updated_at, Conversation.id)
            .where(*_where(Conversation, ascending, filters, cursor))
            .order_by(*_ordered(Conversation, ascending))
            .offset(bindparam("offset")).limit(1))


@cache
def _count(filters: Filters) -> Select[Any]:
    return (select(func.count()).select_from(Conversation)
            .where(*_where(Conversation, True, filters, None)))


async def count_owned(db: DirectDB, user_id: str, project_id: str | None = None,
                      title: str | None = None) -> int:
    row = await db.fetchrow(_count((project_id is not None, bool(title))), {
        "user_id": user_id, "project_id": project_id, "title": _title_pattern(title or "")})
    return int(row[0]) if row else 0


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
