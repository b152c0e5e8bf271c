"""The hot item statements (pages, one item, earlier versions, messages stored without a
reply), run on the database driver by db/direct.py for services.items.ItemStore."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    bindparam,
    case,
    column,
    func,
    insert,
    literal,
    select,
    true,
    update,
    values,
)
from sqlalchemy.orm import aliased

from parlay.db.base import JSONType, UTCDateTime
from parlay.db.direct import DirectDB, Row
from parlay.db.direct_sqlite import SyncConnection
from parlay.db.models.conversations import Conversation, ConversationItem, ItemVersion
from parlay.db.repositories.conversations import CONVERSATION_COLUMNS
from parlay.db.repositories.conversations import owned_row as owned_conversation
from parlay.db.repositories.items import NewItem

SEEK_FROM_OFFSET = 100

# What a read returns per item, in services.items.ItemView's order (the direct reads below).
ITEM_COLUMNS = (
    ConversationItem.id, ConversationItem.type, ConversationItem.conversation_id,
    ConversationItem.role, ConversationItem.content, ConversationItem.content_parts,
    ConversationItem.content_type, ConversationItem.status, ConversationItem.model,
    ConversationItem.usage, ConversationItem.meta, ConversationItem.version,
    ConversationItem.created_at, ConversationItem.updated_at,
)
VERSION_COLUMNS = (
    ItemVersion.item_id, ItemVersion.version, ItemVersion.content, ItemVersion.content_parts,
    ItemVersion.status, ItemVersion.model, ItemVersion.usage, ItemVersion.meta,
    ItemVersion.created_at, ItemVersion.replaced_at,
)


async def page_owned(
    db: DirectDB,
    user_id: str,
    conversation_id: str,
    *,
    limit: int,
    offset: int = 0,
    after_position: int | None = None,
    ascending: bool = True,
    with_conversation: bool = False,
) -> tuple[list[Row], int | None]:
    """A page of the user's conversation and its item count, in one round trip: rows of
    ITEM_COLUMNS, the item count, then (when asked) the conversation's CONVERSATION_COLUMNS.

    An empty page gives ([], None): the caller tells "not yours" from "past the end".
    """
    seek = offset >= SEEK_FROM_OFFSET
    params = {"conversation_id": conversation_id, "user_id": user_id, "limit": limit,
              "after_position": after_position, "offset": offset,
              "page_offset": 0 if seek else offset}
    statement = _page_statement(ascending, after_position is not None, seek, with_conversation)
    rows = await db.fetch(statement, params)
    return rows, (rows[0][len(ITEM_COLUMNS)] if rows else None)


@cache
def _page_statement(ascending: bool, has_after: bool, seek: bool,
                    with_conversation: bool) -> Select[Any]:
    """Built once per shape (bound parameters): no per-request query building.

    A deep OFFSET would fetch every skipped row from the table; with `seek` the page starts
    at its first position, found without reading rows: computed when the conversation has no
    gaps (nothing ever deleted: positions are 0..n-1, so offset k is position k), else
    counted on the (conversation_id, position) index alone (index-only scan). The index scan
    runs only when the computed start is NULL (PostgreSQL evaluates init plans lazily).
    """
    def where(table: Any) -> list[Any]:
        clauses = [table.conversation_id == bindparam("conversation_id")]
        if has_after:
            after = bindparam("after_position")
            clauses.append(table.position > after if ascending else table.position < after)
        return clauses

    def order(table: Any) -> Any:
        return table.position if ascending else table.position.desc()

    clauses = where(ConversationItem)
    if seek:
        skipped = aliased(ConversationItem)
        counted = select(skipped.position).where(*where(skipped)).order_by(order(skipped))
        counted = counted.offset(bindparam("offset")).limit(1)
        start = func.coalesce(_dense_start(ascending, has_after), counted.scalar_subquery())
        position = ConversationItem.position
        clauses.append(position >= start if ascending else position <= start)
    extra = CONVERSATION_COLUMNS if with_conversation else ()
    query = (select(*ITEM_COLUMNS, Conversation.item_count, *extra)
             .join(Conversation, Conversation.id == ConversationItem.conversation_id)
             .where(*clauses, Conversation.user_id == bindparam("user_id")))
    return (query.order_by(order(ConversationItem))
            .offset(bindparam("page_offset")).limit(bindparam("limit")))


def _dense_start(ascending: bool, has_after: bool) -> Any:
    """The page's first position when the conversation has no gaps, else NULL."""
    conversation = aliased(Conversation)
    offset = bindparam("offset", type_=Integer)
    if has_after:
        after = bindparam("after_position", type_=Integer)
        first = after + 1 + offset if ascending else after - 1 - offset
    else:
        first = offset if ascending else conversation.next_position - 1 - offset
    no_gaps = conversation.item_count == conversation.next_position
    return (select(case((no_gaps, first), else_=None))
            .where(conversation.id == bindparam("conversation_id")).scalar_subquery())


async def latest_owned(db: DirectDB, user_id: str, conversation_id: str, limit: int,
                       ) -> tuple[list[Row], Row | None]:
    """The user's conversation's last `limit` items (ITEM_COLUMNS, newest first) and its
    CONVERSATION_COLUMNS (None when it has no items or is not the user's). PostgreSQL: one
    round trip, the conversation's columns repeated on every row. SQLite runs statements in
    process, where a second one costs less than converting those columns on every row."""
    if not db.is_sqlite:
        rows, _ = await page_owned(db, user_id, conversation_id, limit=limit,
                                   ascending=False, with_conversation=True)
        return rows, (rows[0][len(ITEM_COLUMNS) + 1:] if rows else None)
    rows, _ = await page_owned(db, user_id, conversation_id, limit=limit, ascending=False)
    if not rows:
        return rows, None
    return rows, await owned_conversation(db, user_id, conversation_id)


def _owned(*columns: Any) -> Select[Any]:
    return (select(*columns)
            .join(Conversation, Conversation.id == ConversationItem.conversation_id)
            .where(ConversationItem.id == bindparam("item_id"),
                   ConversationItem.conversation_id == bindparam("conversation_id"),
                   Conversation.user_id == bindparam("user_id")))


_OWNED_ITEM = _owned(*ITEM_COLUMNS)
_OWNED_POSITION = _owned(ConversationItem.position)


async def owned_item(db: DirectDB, user_id: str, conversation_id: str,
                     item_id: str) -> Row | None:
    """ITEM_COLUMNS of an item of this conversation, if the conversation is the user's."""
    return await db.fetchrow(_OWNED_ITEM, {"item_id": item_id, "user_id": user_id,
                                           "conversation_id": conversation_id})


async def owned_position(db: DirectDB, user_id: str, conversation_id: str,
                         item_id: str) -> int | None:
    """The position of an item of the user's conversation (a cursor), else None."""
    row = await db.fetchrow(_OWNED_POSITION, {"item_id": item_id, "user_id": user_id,
                                              "conversation_id": conversation_id})
    return None if row is None else int(row[0])


ID_LIST_SIZES = (1, 4, 16, 64)  # IN lists padded to these: few statements to prepare


async def version_rows(db: DirectDB, item_ids: Sequence[str]) -> list[Row]:
    """VERSION_COLUMNS of the earlier versions of these items, oldest first per item."""
    found: list[Row] = []
    largest = ID_LIST_SIZES[-1]
    for start in range(0, len(item_ids), largest):
        chunk = item_ids[start:start + largest]
        size = next(size for size in ID_LIST_SIZES if size >= len(chunk))
        padded = [*chunk, *[chunk[-1]] * (size - len(chunk))]
        params = {f"id_{n}": item_id for n, item_id in enumerate(padded)}
        found += await db.fetch(_versions_statement(size), params)
    return found


@cache
def _versions_statement(count: int) -> Select[Any]:
    ids = [bindparam(f"id_{n}", type_=String()) for n in range(count)]
    return (select(*VERSION_COLUMNS).where(ItemVersion.item_id.in_(ids))
            .order_by(ItemVersion.item_id, ItemVersion.version))


async def append(db: DirectDB, user_id: str, conversation_id: str, items: Sequence[NewItem],
                 ids: Sequence[str], now: datetime) -> int | None:
    """Store items at the end of the user's conversation, committed; their first position,
    or None when the conversation is not the user's.

    The position counter is bumped by an UPDATE ... RETURNING that also checks ownership and
    takes the row lock, so concurrent appends to one conversation serialise there and never
    collide. PostgreSQL bumps and inserts in one statement (a data-modifying CTE: its own
    transaction, one round trip); SQLite in one IMMEDIATE transaction.
    """
    params: dict[str, Any] = {"conversation_id": conversation_id, "user_id": user_id,
                              "count": len(items), "now": now}
    if not db.is_sqlite:
        for n, (item, item_id) in enumerate(zip(items, ids, strict=True)):
            params.update({f"{name}_{n}": getattr(item, name) for name in _NEW_FIELDS})
            params.update({f"ord_{n}": n, f"id_{n}": item_id})
        rows = await db.fetch(_append_statement(len(items)), params)
        return min(row[0] for row in rows) if rows else None

    def bump_and_insert(conn: SyncConnection) -> int | None:
        bumped = conn.fetch(_BUMP, params)
        if not bumped:
            return None
        first = int(bumped[0][0])
        conn.execute_many(_INSERT_ONE, [
            {"id": item_id, "conversation_id": conversation_id, "position": first + n,
             "now": now, **{name: getattr(item, name) for name in _NEW_FIELDS}}
            for n, (item, item_id) in enumerate(zip(items, ids, strict=True))])
        return first

    return await db.write(bump_and_insert)


# NewItem's fields, stored as they are; `meta` is the column "metadata".
_NEW_FIELDS = ("type", "role", "content", "content_parts", "content_type", "status", "model",
               "usage", "meta")
_NEW_TYPES: dict[str, Any] = {"content_parts": JSONType, "usage": JSONType, "meta": JSONType}
_ITEMS = ConversationItem.__table__


def _column(field: str) -> str:
    return ConversationItem.__mapper__.attrs[field].columns[0].name


def _bump() -> Any:
    count = bindparam("count", type_=Integer)
    return (update(Conversation)
            .where(Conversation.id == bindparam("conversation_id"),
                   Conversation.user_id == bindparam("user_id"))
            .values(next_position=Conversation.next_position + count,
                    item_count=Conversation.item_count + count,
                    updated_at=bindparam("now", type_=UTCDateTime()))
            .returning((Conversation.next_position - count).label("first")))


_BUMP = _bump()
_INSERT_ONE = insert(_ITEMS).values(
    id=bindparam("id"), conversation_id=bindparam("conversation_id"),
    position=bindparam("position"), version=1,
    created_at=bindparam("now", type_=UTCDateTime()),
    updated_at=bindparam("now", type_=UTCDateTime()),
    **{_column(name): bindparam(name, type_=_NEW_TYPES.get(name, String()))
       for name in _NEW_FIELDS},
)


@cache
def _append_statement(count: int) -> Any:
    """WITH bump AS (UPDATE conversations ... RETURNING first) INSERT INTO conversation_items
    SELECT ... FROM bump JOIN (VALUES (item 0), (item 1), ...) RETURNING position."""
    bump = _bump().cte("bump")
    columns = [column("ord", Integer), column("id", String()),
               *(column(name, _NEW_TYPES.get(name, String())) for name in _NEW_FIELDS)]
    new = values(*columns, name="new").data([
        tuple(bindparam(f"{c.name}_{n}", type_=c.type) for c in columns) for n in range(count)
    ])
    now = bindparam("now", type_=UTCDateTime())
    rows = (select(new.c.id, bindparam("conversation_id"), bump.c.first + new.c.ord,
                   *(new.c[name] for name in _NEW_FIELDS), literal(1), now, now)
            .select_from(bump).join(new, true()))
    targets = ["id", "conversation_id", "position", *map(_column, _NEW_FIELDS), "version",
               "created_at", "updated_at"]
    return (insert(_ITEMS).from_select(targets, rows)
            .returning(ConversationItem.position).add_cte(bump))
