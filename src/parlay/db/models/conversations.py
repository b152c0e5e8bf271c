"""Conversations, their items (one row each), earlier item versions, shares and feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base, JSONType, UTCDateTime, utcnow


class Conversation(Base):
    __tablename__ = "conversations"
    # Listing a user's conversations newest first, with (updated_at, id) as the cursor.
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(String(500))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    model: Mapped[str | None] = mapped_column(String(200))
    project_id: Mapped[str | None] = mapped_column(String(200))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    # Positions are handed out by bumping this counter, so concurrent appends never collide.
    next_position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConversationItem(Base):
    __tablename__ = "conversation_items"
    __table_args__ = (
        # Paging a conversation by position (offset or cursor); also serves the FK cascade.
        UniqueConstraint("conversation_id", "position",
                         name="uq_conversation_items_conversation_id"),
        # Tiny partial index for the start-up sweep of replies a crash left in progress.
        Index("ix_conversation_items_in_progress", "updated_at",
              postgresql_where=text("status = 'in_progress'"),
              sqlite_where=text("status = 'in_progress'")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32), default="message")
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    # Structured parts as sent (multimodal); NULL when the item is plain text.
    content_parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    content_type: Mapped[str] = mapped_column(String(50), default="text")
    status: Mapped[str] = mapped_column(String(16), default="completed")
    model: Mapped[str | None] = mapped_column(String(200))
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # What produced the item, recorded by the reply pipeline (memories used, tool details).
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ItemVersion(Base):
    """An earlier content of an item, kept when it was regenerated or edited."""

    __tablename__ = "conversation_item_versions"
    __table_args__ = (
        UniqueConstraint("item_id", "version", name="uq_conversation_item_versions_item_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_id: Mapped[str] = mapped_column(
        ForeignKey("conversation_items.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text, default="")
    content_parts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200))
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when this version was made
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Share(Base):
    __tablename__ = "shares"
    __table_args__ = (
        Index("ix_shares_user_created", "user_id", "created_at"),
        Index("ix_shares_conversation_id", "conversation_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # SET NULL: a deleted conversation leaves its (revoked) shares answering 410, not 404.
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"))
    # Items with a position below this are shared: later messages stay private.
    snapshot_position: Mapped[int] = mapped_column(Integer)
    read_only: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_feedback: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ShareFeedback(Base):
    __tablename__ = "share_feedback"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    share_id: Mapped[str] = mapped_column(
        ForeignKey("shares.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
