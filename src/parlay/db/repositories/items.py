"""SQL for conversation items and their earlier versions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from parlay.db.base import new_id, utcnow
from parlay.db.models.conversations import Conversation, ConversationItem, ItemVersion

# Items whose text is sent upstream as history.
HISTORY_STATUSES = ("completed", "incomplete")
HISTORY_ROLES = ("user", "assistant", "system", "developer")
# Tool use kept in a conversation (content_parts[0] holds the item in OpenAI's shape).
FUNCTION_ITEM_TYPES = ("function_call", "function_call_output")
SEEK_FROM_OFFSET = 100


@dataclass(frozen=True, slots=True)
class HistoryRow:
    type: str
    role: str
    content: str
    content_parts: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class NewItem:
    role: str
    content: str
    content_parts: list[dict[str, Any]] | None = None
    content_type: str = "text"
    status: str = "completed"
    model: str | None = None
    usage: dict[str, Any] | None = None
    type: str = "message"
    meta: dict[str, Any] | None = None


async def insert_items(session: AsyncSession, conversation_id: str, first_position: int,
                       items: Sequence[NewItem]) -> list[ConversationItem]:
    now = utcnow()
    rows = [
        ConversationItem(
            id=new_id("msg"), conversation_id=conversation_id, position=first_position + i,
            type=item.type, role=item.role, content=item.content,
            content_parts=item.content_parts, content_type=item.content_type,
            status=item.status, model=item.model, usage=item.usage, meta=item.meta,
            version=1, created_at=now, updated_at=now,
        )
        for i, item in enumerate(items)
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def get_owned_item(session: AsyncSession, user_id: str, conversation_id: str,
                         item_id: str) -> ConversationItem | None:
    """The item, if it is in this conversation and the conversation is the user's (1 query)."""
    return await session.scalar(
        select(ConversationItem)
        .join(Conversation, Conversation.id == ConversationItem.conversation_id)
        .where(ConversationItem.id == item_id,
               ConversationItem.conversation_id == conversation_id,
               Conversation.user_id == user_id)
    )


async def page(
    session: AsyncSession,
    conversation_id: str,
    *,
    limit: int,
    offset: int = 0,
    after_position: int | None = None,
    ascending: bool = True,
) -> Sequence[ConversationItem]:
    statement, params = _page_call(conversation_id, None, limit, offset, after_position,
                                   ascending)
    return (await session.scalars(statement, params)).all()


async def page_owned(
    session: AsyncSession,
    user_id: str,
    conversation_id: str,
    *,
    limit: int,
    offset: int = 0,
    after_position: int | None = None,
    ascending: bool = True,
) -> tuple[list[ConversationItem], int | None]:
    """A page of the user's conversation and its item count, in one round trip.

    An empty page gives ([], None): the caller tells "not yours" from "past the end".
    """
    statement, params = _page_call(conversation_id, user_id, limit, offset, after_position,
                                   ascending)
    rows = (await session.execute(statement, params)).all()
    return [row[0] for row in rows], (rows[0][1] if rows else None)


def _page_call(conversation_id: str, user_id: str | None, limit: int, offset: int,
               after_position: int | None, ascending: bool,
               ) -> tuple[Select[Any], dict[str, Any]]:
    seek = offset >= SEEK_FROM_OFFSET
    params = {"conversation_id": conversation_id, "user_id": user_id, "limit": limit,
              "after_position": after_position, "offset": offset,
              "page_offset": 0 if seek else offset}
    statement = _page_statement(ascending, after_position is not None, seek,
                                user_id is not None)
    return statement, params


@cache
def _page_statement(ascending: bool, has_after: bool, seek: bool, owned: bool) -> Select[Any]:
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
    if owned:
        query = (select(ConversationItem, Conversation.item_count)
                 .join(Conversation, Conversation.id == ConversationItem.conversation_id)
                 .where(*clauses, Conversation.user_id == bindparam("user_id")))
    else:
        query = select(ConversationItem).where(*clauses)
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


async def owned_position(session: AsyncSession, user_id: str, conversation_id: str,
                         item_id: str) -> int | None:
    """The position of an item of the user's conversation (a cursor), else None."""
    return await session.scalar(
        select(ConversationItem.position)
        .join(Conversation, Conversation.id == ConversationItem.conversation_id)
        .where(ConversationItem.id == item_id,
               ConversationItem.conversation_id == conversation_id,
               Conversation.user_id == user_id)
    )


async def latest(session: AsyncSession, conversation_id: str, limit: int,
                 ) -> list[ConversationItem]:
    """The last `limit` items, oldest first."""
    rows = await page(session, conversation_id, limit=limit, ascending=False)
    return list(reversed(rows))


async def history(session: AsyncSession, conversation_id: str, *, below_position: int,
                  limit: int) -> list[HistoryRow]:
    """The last `limit` items worth sending upstream, oldest first: messages with text, and
    function calls with their outputs."""
    rows = await session.execute(
        select(ConversationItem.type, ConversationItem.role, ConversationItem.content,
               ConversationItem.content_parts)
        .where(ConversationItem.conversation_id == conversation_id,
               ConversationItem.position < below_position,
               ConversationItem.status.in_(HISTORY_STATUSES),
               or_(and_(ConversationItem.type == "message",
                        ConversationItem.role.in_(HISTORY_ROLES),
                        ConversationItem.content != ""),
                   ConversationItem.type.in_(FUNCTION_ITEM_TYPES)))
        .order_by(ConversationItem.position.desc())
        .limit(limit)
    )
    return [HistoryRow(*row) for row in reversed(rows.all())]


async def shared(session: AsyncSession, conversation_id: str, *, below_position: int,
                 limit: int) -> Sequence[ConversationItem]:
    """The first `limit` user/assistant messages below a position, for a share's viewers."""
    return (await session.scalars(
        select(ConversationItem)
        .where(ConversationItem.conversation_id == conversation_id,
               ConversationItem.position < below_position,
               ConversationItem.type == "message",
               ConversationItem.role.in_(("user", "assistant")),
               ConversationItem.status.in_(HISTORY_STATUSES))
        .order_by(ConversationItem.position)
        .limit(limit)
    )).all()


async def next_after(session: AsyncSession, conversation_id: str, position: int,
                     ) -> ConversationItem | None:
    return await session.scalar(
        select(ConversationItem)
        .where(ConversationItem.conversation_id == conversation_id,
               ConversationItem.position > position)
        .order_by(ConversationItem.position)
        .limit(1)
    )


async def delete_item(session: AsyncSession, item_id: str) -> bool:
    result = await session.execute(delete(ConversationItem).where(ConversationItem.id == item_id))
    return bool(result.rowcount)


async def finalize(session: AsyncSession, item_id: str, *, content: str, status: str,
                   usage: dict[str, Any] | None, meta: dict[str, Any] | None) -> bool:
    """Write a streamed reply's final text and status; False if the item is gone."""
    result = await session.execute(
        update(ConversationItem)
        .where(ConversationItem.id == item_id)
        .values(content=content, status=status, usage=usage, meta=meta, updated_at=utcnow())
    )
    return bool(result.rowcount)


async def move(session: AsyncSession, item_id: str, position: int) -> bool:
    """Give an item another (free) position: a streamed reply moves after the tool items
    written while it was in progress."""
    result = await session.execute(
        update(ConversationItem).where(ConversationItem.id == item_id)
        .values(position=position, updated_at=utcnow())
    )
    return bool(result.rowcount)


async def checkpoint(session: AsyncSession, item_id: str, *, content: str) -> None:
    """Save a reply's text so far while it streams (also its heartbeat: see the sweeper)."""
    await session.execute(
        update(ConversationItem)
        .where(ConversationItem.id == item_id, ConversationItem.status == "in_progress")
        .values(content=content, updated_at=utcnow())
    )


def archive_version(session: AsyncSession, item: ConversationItem) -> ItemVersion:
    """Keep the item's current content as a version row (written with the next flush; a
    concurrent archive of the same version fails there on the unique key)."""
    version = ItemVersion(
        id=new_id("ver"), item_id=item.id, version=item.version, content=item.content,
        content_parts=item.content_parts, status=item.status, model=item.model,
        usage=item.usage, meta=item.meta, created_at=item.updated_at, replaced_at=utcnow(),
    )
    session.add(version)
    return version


async def versions_of(session: AsyncSession, item_ids: Sequence[str],
                      ) -> dict[str, list[ItemVersion]]:
    """Earlier versions per item, oldest first."""
    if not item_ids:
        return {}
    rows = await session.scalars(
        select(ItemVersion).where(ItemVersion.item_id.in_(item_ids))
        .order_by(ItemVersion.item_id, ItemVersion.version)
    )
    found: dict[str, list[ItemVersion]] = {}
    for row in rows:
        found.setdefault(row.item_id, []).append(row)
    return found


async def mark_stale_in_progress_incomplete(
    session: AsyncSession, *, older_than: timedelta = timedelta(minutes=10),
    now: datetime | None = None,
) -> int:
    """Replies left `in_progress` by a crash become `incomplete` (the caller commits).

    Only items untouched for `older_than`, so a sweep at one worker's start-up leaves the
    live streams of other workers alone; a stream that outlives this still writes its final
    status when it ends. Returns how many items were marked.
    """
    cutoff = (now or utcnow()) - older_than
    result = await session.execute(
        update(ConversationItem)
        .where(ConversationItem.status == "in_progress", ConversationItem.updated_at < cutoff)
        .values(status="incomplete", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
