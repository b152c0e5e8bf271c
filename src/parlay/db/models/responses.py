"""Stored Responses API responses (`resp_…`): one row each, its input items and output items
kept in OpenAI's item shape (JSON arrays), so storing a response is one INSERT."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base, JSONType, UTCDateTime, utcnow


class StoredResponse(Base):
    __tablename__ = "responses"
    __table_args__ = (
        # Serves the user FK cascade; listings would use it too.
        Index("ix_responses_user_created", "user_id", "created_at"),
        # Tiny partial index for the sweep of streams a crash left in progress.
        Index("ix_responses_in_progress", "updated_at",
              postgresql_where=text("status = 'in_progress'"),
              sqlite_where=text("status = 'in_progress'")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # No FK: a deleted earlier response ends the chain there (its items leave the history).
    previous_response_id: Mapped[str | None] = mapped_column(String(40))
    # SET NULL: a response outlives the conversation it was stored in.
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"))
    model: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    instructions: Mapped[str | None] = mapped_column(Text)
    # The request's echoed settings: tools, tool_choice, temperature, top_p, metadata, ...
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    input_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    output: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
