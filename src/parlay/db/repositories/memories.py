"""SQL for memories and the per-user memory state (version + count)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id, utcnow
from parlay.db.models.memories import Memory, MemoryState
from parlay.db.repositories.upsert import insert_ignoring_conflicts


@dataclass(frozen=True, slots=True)
class NewMemory:
    text: str
    source: str = "manual"
    conversation_id: str | None = None
    item_id: str | None = None
    embedding: bytes | None = None
    embedding_space: str | None = None
    embedding_dim: int | None = None


@dataclass(frozen=True, slots=True)
class VectorRow:
    id: str
    text: str
    embedding: bytes | None
    embedding_space: str | None
    embedding_dim: int | None


async def get_owned(session: AsyncSession, user_id: str, memory_id: str) -> Memory | None:
    return await session.scalar(
        select(Memory).where(Memory.id == memory_id, Memory.user_id == user_id))


async def insert(session: AsyncSession, user_id: str, memories: Sequence[NewMemory],
                 ) -> list[Memory]:
    now = utcnow()
    rows = [Memory(id=new_id("mem"), user_id=user_id, text=m.text, source=m.source,
                   conversation_id=m.conversation_id, item_id=m.item_id,
                   embedding=m.embedding, embedding_space=m.embedding_space,
                   embedding_dim=m.embedding_dim, created_at=now, updated_at=now)
            for m in memories]
    session.add_all(rows)
    await session.flush()
    return rows


async def list_page(session: AsyncSession, user_id: str, *, limit: int, offset: int,
                    after: tuple[datetime, str] | None, ascending: bool) -> list[Memory]:
    query = select(Memory).where(Memory.user_id == user_id)
    key = tuple_(Memory.created_at, Memory.id)
    if after is not None:
        query = query.where(key > tuple_(*after) if ascending else key < tuple_(*after))
    order = ([Memory.created_at, Memory.id] if ascending
             else [Memory.created_at.desc(), Memory.id.desc()])
    return list(await session.scalars(query.order_by(*order).offset(offset).limit(limit)))


async def vectors(session: AsyncSession, user_id: str) -> list[VectorRow]:
    """Every memory of the user with its stored vector (recall loads them at once)."""
    rows = await session.execute(
        select(Memory.id, Memory.text, Memory.embedding, Memory.embedding_space,
               Memory.embedding_dim)
        .where(Memory.user_id == user_id).order_by(Memory.created_at, Memory.id))
    return [VectorRow(*row) for row in rows]


async def set_embeddings(session: AsyncSession,
                         values: Sequence[tuple[str, str, bytes, str, int]]) -> None:
    """(memory id, its text when read, vector bytes, space, dim) per recomputed vector; a
    memory whose text changed meanwhile keeps the vector its writer computed."""
    for memory_id, text, embedding, space, dim in values:
        await session.execute(
            update(Memory).where(Memory.id == memory_id, Memory.text == text)
            .values(embedding=embedding, embedding_space=space, embedding_dim=dim))


async def delete_one(session: AsyncSession, user_id: str, memory_id: str) -> bool:
    result = await session.execute(
        delete(Memory).where(Memory.id == memory_id, Memory.user_id == user_id))
    return bool(result.rowcount)


async def delete_all(session: AsyncSession, user_id: str) -> int:
    result = await session.execute(delete(Memory).where(Memory.user_id == user_id))
    return int(result.rowcount or 0)


# -- per-user state ------------------------------------------------------------------------

async def state(session: AsyncSession, user_id: str) -> tuple[int, int]:
    """(version, count) of the user's memories, (0, 0) when they never had any: one
    primary-key read."""
    row = (await session.execute(select(MemoryState.version, MemoryState.count)
                                 .where(MemoryState.user_id == user_id))).first()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


async def count(session: AsyncSession, user_id: str) -> int:
    value = await session.scalar(select(MemoryState.count).where(MemoryState.user_id == user_id))
    return int(value or 0)


async def reserve(session: AsyncSession, user_id: str, added: int, limit: int) -> bool:
    """Count `added` new memories and bump the version, unless that passes `limit`.

    The row update takes the row's lock, so concurrent creates never pass the bound."""
    await insert_ignoring_conflicts(session, MemoryState,
                                    [{"user_id": user_id, "version": 0, "count": 0}])
    result = await session.execute(
        update(MemoryState)
        .where(MemoryState.user_id == user_id, MemoryState.count + added <= limit)
        .values(version=MemoryState.version + 1, count=MemoryState.count + added)
        .returning(MemoryState.count))
    return result.first() is not None


async def changed(session: AsyncSession, user_id: str, removed: int = 0,
                  reset: bool = False) -> None:
    """Bump the version after an edit or a deletion (`removed` rows; `reset`: all)."""
    new_count: Any = 0 if reset else case(
        (MemoryState.count > removed, MemoryState.count - removed), else_=0)
    await session.execute(
        update(MemoryState).where(MemoryState.user_id == user_id)
        .values(version=MemoryState.version + 1, count=new_count))
