"""Admin-managed MCP tools: the registry row behind each built-in tool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parlay.db.base import Base, JSONType, UTCDateTime, utcnow


class McpTool(Base):
    __tablename__ = "mcp_tools"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    # {"disallowed_keywords": [...], "require_approval_for": [...]}
    content_filter: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # No foreign key: the actor may be deleted later, the record of who changed it stays.
    updated_by: Mapped[str | None] = mapped_column(String(40))
