"""Recall: a user's memories most similar to a text, and storing extracted facts.

`MemoryRuntime` is what memory keeps for the process (embedder, vector cache, background
jobs); it opens its own short database sessions, so callers in the middle of a transaction
(the reply pipeline) are never committed or rolled back by it.

Each memory is stored with its vector (float32 bytes + the vector space it belongs to); a
vector of another space (the embedding model changed) or a missing one (the model was down
when the memory was written) is recomputed the next time the user's memories are loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.models.memories import Memory
from parlay.db.repositories import memories as repo
from parlay.db.repositories.conversations import reads_without_transaction
from parlay.db.repositories.memories import NewMemory
from parlay.errors import ApiError, Conflict
from parlay.services.embedder import Embedder, Vectors
from parlay.services.memory_vectors import (
    Match,
    UserVectors,
    VectorCache,
    best_matches,
    from_bytes,
    most_similar,
    to_bytes,
)
from parlay.services.settings import MemoryConfig, load_settings

log = logging.getLogger("parlay.memories")

MAX_MEMORIES_PER_USER = 1000  # default bound: recall's matrix is then 1000 x 384 floats
# An extracted fact this similar to a memory (or to another new fact) is a repeat: "The user
# is allergic to peanuts." vs "I am allergic to peanuts." scores 0.78 (all-MiniLM-L6-v2).
DUPLICATE_SIMILARITY = 0.75
MAX_BACKGROUND_JOBS = 64
RecalledMemory = Match


class MemoryRuntime:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], embedder: Embedder,
                 chat: Any, *, max_per_user: int = MAX_MEMORIES_PER_USER) -> None:
        self.sessionmaker = sessionmaker
        self.embedder = embedder
        self.chat = chat  # parlay.services.chat.ChatService (extraction asks the model)
        self.max_per_user = max_per_user
        self.cache = VectorCache()
        self._jobs: set[asyncio.Task[Any]] = set()

    # -- recall --------------------------------------------------------------------------

    async def recall(self, user_id: str, text: str,
                     config: MemoryConfig) -> list[RecalledMemory]:
        """The user's `config.max_items` memories most similar to `text` with a cosine
        similarity of at least `config.min_similarity`, most similar first; nothing when
        memory is disabled. Never raises for the model's sake: when the embedding model
        fails, that is logged and nothing is recalled (the reply goes on without)."""
        if not config.enabled or not text.strip():
            return []
        try:
            return await self._recall(user_id, text, config)
        except ApiError as exc:
            log.warning("memory recall skipped: %s: %s", exc.code, exc.message,
                        extra={"fields": {"user_id": user_id}})
        except (ValueError, TypeError):  # e.g. a stored vector of the wrong size
            log.exception("memory recall failed", extra={"fields": {"user_id": user_id}})
        return []

    async def _recall(self, user_id: str, text: str,
                      config: MemoryConfig) -> list[RecalledMemory]:
        async with self.sessionmaker() as session:
            await reads_without_transaction(session)  # two reads at most: no BEGIN/COMMIT
            version, count = await repo.state(session, user_id)
            if not count:
                return []
            space = self.embedder.space()
            query, stored = await asyncio.gather(
                self.embedder.embed(user_id, [text]),
                self._vectors(session, user_id, space, version))
        if query.space != stored.space:  # a fallback model answered: not comparable
            return []
        return best_matches(stored, query.matrix[0], min_similarity=config.min_similarity,
                            max_items=config.max_items)

    async def user_vectors(self, session: AsyncSession, user_id: str,
                           space: str) -> UserVectors:
        """Every memory's vector in `space`: cached while the user's version is unchanged;
        missing or other-space vectors are computed and stored first."""
        version, _count = await repo.state(session, user_id)
        return await self._vectors(session, user_id, space, version)

    async def _vectors(self, session: AsyncSession, user_id: str, space: str,
                       version: int) -> UserVectors:
        cached = self.cache.get(user_id, version, space)
        if cached is not None:
            await session.commit()  # ends the read: no connection waits on the model
            return cached
        rows = await repo.vectors(session, user_id)
        await session.commit()
        stale = [r for r in rows if not _usable(r, space)]
        fresh: dict[str, np.ndarray] = {}
        if stale:
            computed = await self.embedder.embed(user_id, [r.text for r in stale])
            fresh = dict(zip((r.id for r in stale), computed.matrix, strict=True))
            await self._store_vectors(computed.space, stale, fresh)
        matrix = (np.stack([fresh[r.id] if r.id in fresh else from_bytes(r.embedding or b"")
                            for r in rows]) if rows else np.zeros((0, 0), np.float32))
        entry = UserVectors(version, space, tuple(r.id for r in rows),
                            tuple(r.text for r in rows), matrix)
        self.cache.put(user_id, entry)
        return entry

    # -- storing -------------------------------------------------------------------------

    async def add_extracted(self, user_id: str, facts: Sequence[str], *,
                            conversation_id: str | None, item_id: str | None) -> list[Memory]:
        """Store the facts that are no near-duplicate of a memory (or of each other) as
        `source: extracted`, as far as the user's bound allows."""
        if not facts:
            return []
        space = self.embedder.space()
        async with self.sessionmaker() as session:
            existing = await self.user_vectors(session, user_id, space)
            new = await self.embedder.embed(user_id, list(facts))
            kept = _distinct(new.matrix, existing.matrix if new.space == space else None)
            room = self.max_per_user - await repo.count(session, user_id)
            if len(kept) > room:
                log.info("memory: user %s reached the bound of %d memories; %d facts dropped",
                         user_id, self.max_per_user, len(kept) - max(room, 0))
                kept = kept[:max(room, 0)]
            memories = [NewMemory(facts[i], "extracted", conversation_id, item_id,
                                  **vector_fields(new, i)) for i in kept]
            if not memories:
                return []
            try:
                return await self.insert(session, user_id, memories)
            except IntegrityError:  # the conversation or message was deleted meanwhile
                log.info("memory: conversation %s was deleted before its facts were stored",
                         conversation_id)
                return []

    async def insert(self, session: AsyncSession, user_id: str,
                     memories: list[NewMemory]) -> list[Memory]:
        """Insert and commit within the user's bound (409 `memory_limit_reached` past it)."""
        try:
            if not await repo.reserve(session, user_id, len(memories), self.max_per_user):
                raise Conflict(f"a user keeps at most {self.max_per_user} memories; delete "
                               "some first", code="memory_limit_reached")
            rows = await repo.insert(session, user_id, memories)
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        self.cache.drop(user_id)
        return rows

    async def _store_vectors(self, space: str, rows: Sequence[repo.VectorRow],
                             vectors: dict[str, np.ndarray]) -> None:
        values = [(r.id, r.text, to_bytes(vectors[r.id]), space, int(vectors[r.id].shape[0]))
                  for r in rows]
        async with self.sessionmaker() as session:
            await repo.set_embeddings(session, values)
            await session.commit()

    # -- background jobs -----------------------------------------------------------------

    def spawn(self, job: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        """Run `job` in the background (it logs its own failures); None when too many jobs
        are running already, so a burst of replies cannot pile up work."""
        if len(self._jobs) >= MAX_BACKGROUND_JOBS:
            job.close()
            log.warning("memory: %d background jobs running; one skipped", len(self._jobs))
            return None
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        return task

    async def aclose(self) -> None:
        for task in list(self._jobs):
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)


@dataclass(frozen=True)
class ReplyMemories:
    """What recall adds to a reply: a system message, and what to note on the reply item."""

    preamble: str | None = None
    used: list[dict[str, Any]] = field(default_factory=list)  # [{id, similarity}]
    config: MemoryConfig = field(default_factory=MemoryConfig)  # the user's memory_config


async def recall_for_reply(runtime: MemoryRuntime | None, session: AsyncSession, user_id: str,
                           text: str, config: MemoryConfig | None = None) -> ReplyMemories:
    """The reply pipeline's recall step in one call: the user's `memory_config` (given, or
    read with `session`: nothing committed), recall, the rendered text. Metadata names the
    memories by id only, so forgetting one leaves no copy of its text on old replies."""
    if runtime is None:
        return ReplyMemories()
    if config is None:
        config = (await load_settings(session, user_id)).memory_config
    recalled = await runtime.recall(user_id, text, config)
    return ReplyMemories(render_memories(recalled),
                         [{"id": m.id, "similarity": round(m.similarity, 4)} for m in recalled],
                         config)


def render_memories(memories: Sequence[RecalledMemory]) -> str | None:
    """System-preamble text for recalled memories; None when there are none."""
    if not memories:
        return None
    lines = ["Facts the user asked you to remember about them. Use them where they help; "
             "do not mention this list unless asked:"]
    lines += [f"- {memory.text}" for memory in memories]
    return "\n".join(lines)


def vector_fields(vectors: Vectors | None, index: int) -> dict[str, Any]:
    """The vector columns of a new memory (all None when no vector could be computed)."""
    if vectors is None:
        return {"embedding": None, "embedding_space": None, "embedding_dim": None}
    row = vectors.matrix[index]
    return {"embedding": to_bytes(row), "embedding_space": vectors.space,
            "embedding_dim": int(row.shape[0])}


def _usable(row: repo.VectorRow, space: str) -> bool:
    """A stored vector of this space, whole."""
    return (row.embedding is not None and row.embedding_space == space
            and len(row.embedding) == 4 * (row.embedding_dim or 0) > 0)


def _distinct(new: np.ndarray, existing: np.ndarray | None) -> list[int]:
    """Indexes of the new vectors that repeat neither an existing one nor an earlier new one."""
    kept: list[int] = []
    for index, vector in enumerate(new):
        known = most_similar(existing, vector) if existing is not None else -1.0
        repeated = most_similar(new[kept], vector) if kept else -1.0
        if max(known, repeated) < DUPLICATE_SIMILARITY:
            kept.append(index)
    return kept

