"""Memories: facts about a user, each with its embedding vector, and a per-user version row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base, UTCDateTime, utcnow


class Memory(Base):
    __tablename__ = "memories"
    __table_args__ = (
        # Listing a user's memories newest first; also loads them all for recall.
        Index("ix_memories_user_created", "user_id", "created_at", "id"),
        # The provenance FKs below are SET NULL on delete: these keep that cheap.
        Index("ix_memories_conversation_id", "conversation_id"),
        Index("ix_memories_item_id", "item_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # manual | extracted
    # Where an extracted memory came from; a memory outlives its conversation (then NULL).
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"))
    item_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversation_items.id", ondelete="SET NULL"))
    # float32 little-endian bytes, portable across SQLite and PostgreSQL; NULL until computed.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The vector space the embedding belongs to (model + revision); another one is stale.
    embedding_space: Mapped[str | None] = mapped_column(String(300))
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemoryState(Base):
    """One row per user with memories: `version` changes with every change to them (so any
    worker can tell its cached vectors are stale with one primary-key read) and `count`
    enforces the per-user bound."""

    __tablename__ = "memory_states"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    count: Mapped[int] = mapped_column(Integer, default=0)
