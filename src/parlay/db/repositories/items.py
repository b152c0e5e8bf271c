"""SQL for conversation items and their earlier versions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id, utcnow
from parlay.db.models.conversations import Conversation, ConversationItem, ItemVersion

# Items whose text is sent upstream as history.
HISTORY_STATUSES = ("completed", "incomplete")
HISTORY_ROLES = ("user", "assistant", "system", "developer")
# Tool use kept in a conversation (content_parts[0] holds the item in OpenAI's shape).
FUNCTION_ITEM_TYPES = ("function_call", "function_call_output")


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


async def history(session: AsyncSession, conversation_id: str, *, below_position: int,
                  limit: int) -> list[HistoryRow]:
    """The last `limit` items worth sending upstream, oldest first: messages with text, and
    function calls with their outputs."""
    rows = await session.execute(
        select(ConversationItem.type, ConversationItem.role, ConversationItem.content,
               ConversationItem.content_parts)
        .where(ConversationItem.conversation_id == conversation_id,
               ConversationItem.position < below_position,
               or_(and_(ConversationItem.type == "message",
                        ConversationItem.status.in_(HISTORY_STATUSES),
                        ConversationItem.role.in_(HISTORY_ROLES),
                        ConversationItem.content != ""),
                   # a failed tool's output is still the answer to its call
                   and_(ConversationItem.type.in_(FUNCTION_ITEM_TYPES),
                        ConversationItem.status != "in_progress")))
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
