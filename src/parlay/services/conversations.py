"""Conversation rules: ownership (another user's id is always 404), paging, metadata merge,
deletion (hard delete: items and versions cascade, shares are revoked first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from parlay.db.base import utcnow
from parlay.db.direct import DirectDB, Row
from parlay.db.models.conversations import Conversation
from parlay.db.repositories import conversations as repo
from parlay.db.repositories import items as item_repo
from parlay.db.repositories import shares as share_repo
from parlay.db.repositories.items import NewItem
from parlay.errors import BadRequest, NotFound, ValidationFailed
from parlay.services.content import check_storable

if TYPE_CHECKING:
    from parlay.services.items import ItemView

T = TypeVar("T")
Order = Literal["asc", "desc"]

# What a public id (conv_..., msg_..., shr_...) can look like; anything else names nothing.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
METADATA_MAX_KEYS = 64
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_BYTES = 16 * 1024
UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class PageResult(Generic[T]):
    rows: list[T]
    has_more: bool
    total: int


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: str
    title: str | None
    metadata: dict[str, Any]
    model: str | None
    project_id: str | None
    item_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Conversation) -> ConversationView:
        return cls(id=row.id, title=row.title, metadata=row.meta, model=row.model,
                   project_id=row.project_id, item_count=row.item_count,
                   created_at=row.created_at, updated_at=row.updated_at)


def not_found(conversation_id: str) -> NotFound:
    return NotFound(f"no conversation {conversation_id!r}", code="conversation_not_found",
                    param="conversation_id")


def invalid_cursor(cursor: str) -> BadRequest:
    return BadRequest(f"'after' names no item of this list: {cursor!r}", code="invalid_cursor",
                      param="after")


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    check_storable(metadata, "metadata")
    if len(metadata) > METADATA_MAX_KEYS:
        raise ValidationFailed(f"metadata holds at most {METADATA_MAX_KEYS} keys",
                               param="metadata")
    for key in metadata:
        if not key or len(key) > METADATA_MAX_KEY_LENGTH:
            raise ValidationFailed(f"metadata keys are 1 to {METADATA_MAX_KEY_LENGTH} characters",
                                   param=f"metadata.{key}"[:80])
    if len(orjson.dumps(metadata)) > METADATA_MAX_BYTES:
        raise ValidationFailed(f"metadata is limited to {METADATA_MAX_BYTES} bytes of JSON",
                               param="metadata")
    return metadata


def merge_metadata(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Key by key: a value sets the key, null removes it, absent keys stay."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return check_metadata(merged)


def conversation_view(row: Row) -> ConversationView:
    """A ConversationView from a row of CONVERSATION_COLUMNS (extra columns ignored)."""
    return ConversationView(*row[:_WIDTH])


_WIDTH = len(repo.CONVERSATION_COLUMNS)


class ConversationStore:
    """The hot conversation reads straight on the database driver (db/direct.py)."""

    def __init__(self, db: DirectDB) -> None:
        self.db = db

    async def get(self, user_id: str, conversation_id: str) -> ConversationView:
        row = await repo.owned_row(self.db, user_id, conversation_id)
        if row is None:
            raise not_found(conversation_id)
        return conversation_view(row)

    async def get_with_items(self, user_id: str, conversation_id: str, items_limit: int,
                             ) -> tuple[ConversationView, list[ItemView]]:
        """The conversation and its latest `items_limit` items, oldest first: one round trip
        when it has items."""
        from parlay.services.items import ItemStore  # services.items imports this module

        items, row = ([], None)
        if items_limit > 0:
            items, row = await ItemStore(self.db).latest(user_id, conversation_id, items_limit)
        if row is None:
            return await self.get(user_id, conversation_id), []
        return conversation_view(row), items

    async def page(
        self,
        user_id: str,
        *,
        limit: int,
        offset: int = 0,
        after: str | None = None,
        order: Order = "desc",
        project_id: str | None = None,
        title: str | None = None,
    ) -> PageResult[ConversationView]:
        """A page of the user's conversations; `title` keeps those whose title contains it
        (case-insensitive)."""
        check_storable(project_id, "project_id")
        check_storable(title, "q")
        cursor = None
        if after is not None:
            cursor = await repo.owned_key(self.db, user_id, after)
            if cursor is None:
                raise invalid_cursor(after)
        rows, total = await repo.list_page(
            self.db, user_id, limit=limit + 1, offset=offset, after=cursor,
            ascending=order == "asc", project_id=project_id, title=title)
        if total is None:  # an empty page says nothing about the total
            total = await repo.count_owned(self.db, user_id, project_id, title)
        return PageResult([conversation_view(row) for row in rows[:limit]], len(rows) > limit,
                          total)


class ConversationService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        user_id: str,
        *,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        model: str | None = None,
        project_id: str | None = None,
        items: Sequence[NewItem] = (),
    ) -> ConversationView:
        meta = check_metadata({k: v for k, v in (metadata or {}).items() if v is not None})
        for param, value in (("title", title), ("model", model), ("project_id", project_id)):
            check_storable(value, param)
        conversation = await repo.create_conversation(
            self.session, user_id=user_id, title=title, meta=meta, model=model,
            project_id=project_id)
        if items:
            conversation.item_count = conversation.next_position = len(items)
            await item_repo.insert_items(self.session, conversation.id, 0, items)
        await self.session.commit()
        return ConversationView.of(conversation)

    async def get(self, user_id: str, conversation_id: str) -> Conversation:
        conversation = await repo.get_owned(self.session, user_id, conversation_id)
        if conversation is None:
            raise not_found(conversation_id)
        return conversation

    async def update(
        self,
        user_id: str,
        conversation_id: str,
        *,
        title: str | None = UNSET,
        metadata: dict[str, Any] | None = UNSET,
        model: str | None = UNSET,
        project_id: str | None = UNSET,
    ) -> ConversationView:
        """Only the fields passed change; `metadata` merges key by key (null removes a key,
        an explicit null for the whole object clears it)."""
        for param, value in (("title", title), ("model", model), ("project_id", project_id)):
            check_storable(value, param)
        conversation = await self.get(user_id, conversation_id)
        if title is not UNSET:
            conversation.title = title
        if metadata is not UNSET:
            conversation.meta = {} if metadata is None else merge_metadata(conversation.meta,
                                                                           metadata)
        if model is not UNSET:
            conversation.model = model
        if project_id is not UNSET:
            conversation.project_id = project_id
        conversation.updated_at = utcnow()
        try:
            await self.session.commit()
        except StaleDataError:  # deleted while we changed it
            await self.session.rollback()
            raise not_found(conversation_id) from None
        return ConversationView.of(conversation)

    async def delete(self, user_id: str, conversation_id: str) -> None:
        if await self.bulk_delete(user_id, [conversation_id]) == 0:
            raise not_found(conversation_id)

    async def bulk_delete(self, user_id: str, conversation_ids: Sequence[str]) -> int:
        """Delete those of the ids that are the caller's; others are silently not counted."""
        ids = list(dict.fromkeys(conversation_ids))
        await share_repo.revoke_for_conversations(self.session, user_id, ids)
        deleted = await repo.delete_owned(self.session, user_id, ids)
        await self.session.commit()
        return deleted

    async def delete_all(self, user_id: str) -> int:
        await share_repo.revoke_for_conversations(self.session, user_id, None)
        deleted = await repo.delete_all_owned(self.session, user_id)
        await self.session.commit()
        return deleted
