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

from parlay.db.base import new_id, utcnow
from parlay.db.direct import DirectDB, Row
from parlay.db.models.conversations import Conversation, ConversationItem, ItemVersion
from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import item_store as store_repo
from parlay.db.repositories import items as repo
from parlay.db.repositories.conversations import CONVERSATION_COLUMNS
from parlay.db.repositories.item_store import ITEM_COLUMNS
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


def item_view(row: Row, versions: tuple[VersionView, ...] = ()) -> ItemView:
    """An ItemView from a row of ITEM_COLUMNS (extra columns after them are ignored)."""
    (item_id, kind, conversation_id, role, content, parts, content_type, status, model, usage,
     meta, version, created_at, updated_at) = row[:_ITEM_WIDTH]
    return ItemView(item_id, kind, conversation_id, role, content,
                    parts or default_parts(role, content), content_type, status, model, usage,
                    meta or None, version, created_at, updated_at, versions)


_ITEM_WIDTH = len(ITEM_COLUMNS)
_VERSION = next(i for i, c in enumerate(ITEM_COLUMNS) if c is ConversationItem.version)
_ITEM_COUNT = next(i for i, c in enumerate(CONVERSATION_COLUMNS) if c is Conversation.item_count)


class ItemStore:
    """The hot item routes straight on the database driver (db/direct.py): pages, one item,
    messages stored without a reply. Same rules as ItemService: another user's conversation
    is a 404, a page is usually one round trip (ownership, page and total together)."""

    def __init__(self, db: DirectDB) -> None:
        self.db = db

    async def page(
        self,
        user_id: str,
        conversation_id: str,
        *,
        limit: int,
        offset: int = 0,
        after: str | None = None,
        order: Order = "asc",
    ) -> PageResult[ItemView]:
        after_position = None
        if after is not None:
            after_position = await store_repo.owned_position(self.db, user_id,
                                                             conversation_id, after)
            if after_position is None:
                await self.item_count(user_id, conversation_id)  # 404 if not the caller's
                raise invalid_cursor(after)
        rows, total = await store_repo.page_owned(
            self.db, user_id, conversation_id, limit=limit + 1, offset=offset,
            after_position=after_position, ascending=order == "asc")
        if total is None:  # empty page: past the end, or not the caller's conversation
            total = await self.item_count(user_id, conversation_id)
        return PageResult(await self.views(rows[:limit]), len(rows) > limit, total)

    async def latest(self, user_id: str, conversation_id: str, limit: int,
                     ) -> tuple[list[ItemView], Row | None]:
        """The last `limit` items oldest first, and the conversation's CONVERSATION_COLUMNS
        read with them (None when there are no items to read)."""
        rows, conversation = await store_repo.latest_owned(self.db, user_id, conversation_id,
                                                           limit)
        rows.reverse()
        return await self.views(rows), conversation

    async def get(self, user_id: str, conversation_id: str, item_id: str) -> ItemView:
        row = await store_repo.owned_item(self.db, user_id, conversation_id, item_id)
        if row is None:
            raise item_not_found(conversation_id, item_id)
        return (await self.views([row]))[0]

    async def append(self, user_id: str, conversation_id: str, items: Sequence[NewItem],
                     ) -> list[ItemView]:
        """Store messages at the end of the caller's conversation (committed), no reply."""
        now = utcnow()
        ids = [new_id("msg") for _ in items]
        first = await store_repo.append(self.db, user_id, conversation_id, items, ids, now)
        if first is None:
            raise not_found(conversation_id)
        return [ItemView(item_id, item.type, conversation_id, item.role, item.content,
                         item.content_parts or default_parts(item.role, item.content),
                         item.content_type, item.status, item.model, item.usage,
                         item.meta or None, 1, now, now)
                for item_id, item in zip(ids, items, strict=True)]

    async def item_count(self, user_id: str, conversation_id: str) -> int:
        row = await conversation_repo.owned_row(self.db, user_id, conversation_id)
        if row is None:
            raise not_found(conversation_id)
        return int(row[_ITEM_COUNT])

    async def views(self, rows: Sequence[Row]) -> list[ItemView]:
        """Rows of ITEM_COLUMNS as views; earlier versions read only for items that have
        any (version > 1), so a page of never-edited items is one round trip."""
        edited = [row[0] for row in rows if row[_VERSION] > 1]
        if not edited:
            return [item_view(row) for row in rows]
        roles = {row[0]: row[3] for row in rows}
        versions: dict[str, list[VersionView]] = {}
        for item_id, *fields in await store_repo.version_rows(self.db, edited):
            (version, content, parts, status, model, usage, meta, created_at,
             replaced_at) = fields
            role = roles[item_id]
            versions.setdefault(item_id, []).append(VersionView(
                version, content, parts or default_parts(role, content), status, model, usage,
                meta or None, created_at, replaced_at))
        return [item_view(row, tuple(versions.get(row[0], ()))) for row in rows]


def item_not_found(conversation_id: str, item_id: str) -> NotFound:
    return NotFound(f"no item {item_id!r} in conversation {conversation_id!r}",
                    code="item_not_found", param="item_id")


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
            raise item_not_found(conversation_id, item_id)
        return item

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
