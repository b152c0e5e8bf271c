"""Memories: facts about a user that replies recall by similarity. This module is the
`/v1/users/me/memories` rules; recall and storing extracted facts live in `memory_recall`,
asking the model for facts in `memory_extraction`.

Contract used by the reply pipeline (parlay.services.memory_recall / memory_extraction):
  recall_for_reply(ctx.memory, session, user_id, text) -> ReplyMemories(preamble, used)
      the context step: the user's memory_config, recall, the system text, ids for metadata
  ctx.memory.recall(user_id, text, config) -> list[RecalledMemory]   (never raises)
  render_memories(recalled) -> str | None
  schedule_extraction(ctx.memory, user_id=, conversation_id=, item_id=, text=, model=)
      after the reply is persisted; background, checks the user's switches itself
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from parlay.db.base import utcnow
from parlay.db.models.memories import Memory
from parlay.db.repositories import memories as repo
from parlay.db.repositories.memories import NewMemory
from parlay.errors import ApiError, Conflict, NotFound, ValidationFailed
from parlay.services.conversations import Order, PageResult, invalid_cursor
from parlay.services.embedder import Vectors
from parlay.services.memory_recall import MemoryRuntime, vector_fields
from parlay.services.text import storable

log = logging.getLogger("parlay.memories")

MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class MemoryView:
    id: str
    text: str
    source: str  # manual | extracted
    conversation_id: str | None
    item_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Memory) -> MemoryView:
        return cls(row.id, row.text, row.source, row.conversation_id, row.item_id,
                   row.created_at, row.updated_at)


class MemoryService:
    def __init__(self, session: AsyncSession, runtime: MemoryRuntime) -> None:
        self.session = session
        self.runtime = runtime

    async def list(self, user_id: str, *, limit: int, offset: int = 0,
                   after: str | None = None, order: Order = "desc") -> PageResult[MemoryView]:
        """Newest first by default (created_at, id); `after` is a memory id of this list."""
        cursor = None
        if after is not None:
            anchor = await repo.get_owned(self.session, user_id, after)
            if anchor is None:
                raise invalid_cursor(after)
            cursor = (anchor.created_at, anchor.id)
        rows = await repo.list_page(self.session, user_id, limit=limit + 1, offset=offset,
                                    after=cursor, ascending=order == "asc")
        _version, total = await repo.state(self.session, user_id)
        return PageResult([MemoryView.of(r) for r in rows[:limit]], len(rows) > limit, total)

    async def get(self, user_id: str, memory_id: str) -> MemoryView:
        return MemoryView.of(await self._owned(user_id, memory_id))

    async def create(self, user_id: str, text: str) -> MemoryView:
        text = clean_text(text)
        _version, count = await repo.state(self.session, user_id)
        if count >= self.runtime.max_per_user:  # before the model works for nothing
            raise Conflict(f"a user keeps at most {self.runtime.max_per_user} memories; "
                           "delete some first", code="memory_limit_reached")
        await self.session.commit()  # no transaction stays open while the model works
        vectors = await self._embed_or_none(user_id, text)
        (row,) = await self.runtime.insert(self.session, user_id,
                                           [NewMemory(text, **vector_fields(vectors, 0))])
        return MemoryView.of(row)

    async def update(self, user_id: str, memory_id: str, text: str) -> MemoryView:
        """New text (and vector); the source and provenance stay."""
        text = clean_text(text)
        row = await self._owned(user_id, memory_id)
        await self.session.commit()
        vectors = await self._embed_or_none(user_id, text)
        row.text = text
        for name, value in vector_fields(vectors, 0).items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        try:
            await repo.changed(self.session, user_id)
            await self.session.commit()
        except StaleDataError:  # deleted while the vector was computed
            await self.session.rollback()
            raise not_found(memory_id) from None
        self.runtime.cache.drop(user_id)
        return MemoryView.of(row)

    async def delete(self, user_id: str, memory_id: str) -> None:
        if not await repo.delete_one(self.session, user_id, memory_id):
            raise not_found(memory_id)
        await repo.changed(self.session, user_id, removed=1)
        await self.session.commit()
        self.runtime.cache.drop(user_id)

    async def delete_all(self, user_id: str) -> int:
        deleted = await repo.delete_all(self.session, user_id)
        await repo.changed(self.session, user_id, reset=True)
        await self.session.commit()
        self.runtime.cache.drop(user_id)
        return deleted

    async def _owned(self, user_id: str, memory_id: str) -> Memory:
        row = await repo.get_owned(self.session, user_id, memory_id)
        if row is None:
            raise not_found(memory_id)
        return row

    async def _embed_or_none(self, user_id: str, text: str) -> Vectors | None:
        try:
            return await self.runtime.embedder.embed(user_id, [text])
        except ApiError as exc:  # stored without a vector: computed when next needed
            log.warning("memory: embedding failed (%s: %s); the vector is computed later",
                        exc.code, exc.message)
            return None


def clean_text(text: str, param: str = "text") -> str:
    """A memory's text: trimmed, 1 to MAX_TEXT characters, storable on every database."""
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise ValidationFailed(f"{param}: a memory is 1 to {MAX_TEXT} characters", param=param)
    try:
        return storable(text)
    except ValueError as exc:
        raise ValidationFailed(f"{param}: {exc}", param=param) from None


def not_found(memory_id: str) -> NotFound:
    return NotFound(f"no memory {memory_id!r}", code="memory_not_found", param="memory_id")
