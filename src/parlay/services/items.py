"""Item rules: text and structured content, paging (oldest first by default), edits that keep
the earlier content as a version, deletion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from parlay.db.base import utcnow
from parlay.db.models.conversations import Conversation, ConversationItem, ItemVersion
from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import items as repo
from parlay.db.repositories.items import NewItem
from parlay.errors import Conflict, NotFound
from parlay.services.content import (
    Content,
    check_content,
    check_content_type,
    default_parts,
    parts_of,
    text_of,
)
from parlay.services.conversations import Order, PageResult, invalid_cursor, not_found


@dataclass(frozen=True, slots=True)
class VersionView:
    """An earlier content of an item."""

    version: int
    content: str
    content_parts: list[dict[str, Any]]
    status: str
    model: str | None
    usage: dict[str, Any] | None
    metadata: dict[str, Any] | None
    created_at: datetime
    replaced_at: datetime

    @classmethod
    def of(cls, row: ItemVersion, role: str) -> VersionView:
        return cls(version=row.version, content=row.content,
                   content_parts=row.content_parts or default_parts(role, row.content),
                   status=row.status, model=row.model, usage=row.usage,
                   metadata=row.meta or None, created_at=row.created_at,
                   replaced_at=row.replaced_at)


@dataclass(frozen=True, slots=True)
class ItemView:
    """An item's public fields (what the API shows of it), with its earlier versions."""

    id: str
    type: str
    conversation_id: str
    role: str
    content: str
    content_parts: list[dict[str, Any]]
    content_type: str
    status: str
    model: str | None
    usage: dict[str, Any] | None
    metadata: dict[str, Any] | None
    version: int
    created_at: datetime
    updated_at: datetime
    versions: tuple[VersionView, ...] = ()

    @classmethod
    def of(cls, row: ConversationItem, versions: Sequence[ItemVersion] = ()) -> ItemView:
        return cls(
            id=row.id, type=row.type, conversation_id=row.conversation_id, role=row.role,
            content=row.content,
            content_parts=row.content_parts or default_parts(row.role, row.content),
            content_type=row.content_type, status=row.status, model=row.model,
            usage=row.usage, metadata=row.meta or None, version=row.version,
            created_at=row.created_at, updated_at=row.updated_at,
            versions=tuple(VersionView.of(v, row.role) for v in versions))


def new_message(role: str, content: Content, content_type: str = "text",
                param: str = "content") -> NewItem:
    """A message to store, within the content caps (services.content)."""
    check_content(content, param)
    check_content_type(content_type)
    return NewItem(role=role, content=text_of(content), content_parts=parts_of(content),
                   content_type=content_type)


class ItemService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def conversation(self, user_id: str, conversation_id: str) -> Conversation:
        conversation = await conversation_repo.get_owned(self.session, user_id, conversation_id)
        if conversation is None:
            raise not_found(conversation_id)
        return conversation

    async def add(self, user_id: str, conversation_id: str, items: Sequence[NewItem],
                  ) -> list[ItemView]:
        """Append items (committed), in order, at the end of the caller's conversation."""
        conversation = await self.conversation(user_id, conversation_id)
        rows = await self.insert(conversation.id, items)
        await self.session.commit()
        return [ItemView.of(row) for row in rows]

    async def insert(self, conversation_id: str, items: Sequence[NewItem],
                     ) -> list[ConversationItem]:
        """Append items at the end (not committed); 404 if the conversation went away."""
        try:
            first = await conversation_repo.allocate_positions(self.session, conversation_id,
                                                               len(items))
        except LookupError:
            await self.session.rollback()
            raise not_found(conversation_id) from None
        return await repo.insert_items(self.session, conversation_id, first, items)

    async def get(self, user_id: str, conversation_id: str, item_id: str) -> ConversationItem:
        item = await repo.get_owned_item(self.session, user_id, conversation_id, item_id)
        if item is None:
            raise NotFound(f"no item {item_id!r} in conversation {conversation_id!r}",
                           code="item_not_found", param="item_id")
        return item

    async def list(
        self,
        user_id: str,
        conversation_id: str,
        *,
        limit: int,
        offset: int = 0,
        after: str | None = None,
        order: Order = "asc",
    ) -> PageResult[ConversationItem]:
        """Usually one round trip: ownership, page and total come from one query."""
        await conversation_repo.reads_without_transaction(self.session)
        after_position = None
        if after is not None:
            after_position = await repo.owned_position(self.session, user_id, conversation_id,
                                                       after)
            if after_position is None:
                await self.conversation(user_id, conversation_id)  # 404 if not the caller's
                raise invalid_cursor(after)
        rows, total = await repo.page_owned(
            self.session, user_id, conversation_id, limit=limit + 1, offset=offset,
            after_position=after_position, ascending=order == "asc")
        if total is None:  # empty page: past the end, or not the caller's conversation
            total = (await self.conversation(user_id, conversation_id)).item_count
        return PageResult(rows[:limit], len(rows) > limit, total)

    async def edit(self, user_id: str, conversation_id: str, item_id: str, *,
                   content: Content, content_type: str | None = None) -> ItemView:
        """Replace the content; the previous content is kept as a version."""
        check_content(content)
        if content_type is not None:
            check_content_type(content_type)
        item = await self.get(user_id, conversation_id, item_id)
        if item.status == "in_progress":
            raise Conflict("this reply is still being written", code="item_in_progress")
        repo.archive_version(self.session, item)
        item.content = text_of(content)
        item.content_parts = parts_of(content)
        if content_type is not None:
            item.content_type = content_type
        item.version += 1
        item.updated_at = utcnow()
        await conversation_repo.touch(self.session, conversation_id)
        await self.commit_version_change()
        return (await self.views([item]))[0]

    async def delete(self, user_id: str, conversation_id: str, item_id: str) -> None:
        item = await self.get(user_id, conversation_id, item_id)
        if await repo.delete_item(self.session, item.id):
            await conversation_repo.item_removed(self.session, conversation_id)
        await self.session.commit()

    async def view(self, user_id: str, conversation_id: str, item_id: str) -> ItemView:
        """One item of the caller's conversation, with its earlier versions."""
        return (await self.views([await self.get(user_id, conversation_id, item_id)]))[0]

    async def views(self, rows: Sequence[ConversationItem]) -> list[ItemView]:
        versions = await self.versions_map(rows)
        return [ItemView.of(row, versions.get(row.id, ())) for row in rows]

    async def versions_map(self, items: Sequence[ConversationItem],
                           ) -> dict[str, list[ItemVersion]]:
        """Earlier versions of these items; no query when none was ever replaced."""
        ids = [item.id for item in items if item.version > 1]
        return await repo.versions_of(self.session, ids) if ids else {}

    async def commit_version_change(self) -> None:
        try:
            await self.session.commit()
        except IntegrityError:  # someone replaced the same version at the same moment
            await self.session.rollback()
            raise Conflict("the item changed meanwhile; retry", code="item_changed") from None
        except StaleDataError:  # deleted while we worked on it
            await self.session.rollback()
            raise NotFound("the item was deleted meanwhile", code="item_not_found",
                           param="item_id") from None
