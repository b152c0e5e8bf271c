"""Tools: the registry rows (built-ins and external MCP servers' tools), the external MCP
servers, the log of every tool call, and the calls waiting for their user's approval."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
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
    # External tools only: the server that serves it, its name there, its input schema.
    server_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("mcp_servers.id", ondelete="CASCADE"), index=True)
    upstream_name: Mapped[str | None] = mapped_column(String(200))
    input_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class McpServer(Base):
    __tablename__ = "mcp_servers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Fernet token of the JSON object of request headers (secrets included); never shown.
    headers_encrypted: Mapped[str | None] = mapped_column(Text)
    header_names: Mapped[list[str]] = mapped_column(JSONType, default=list)
    allowed_tools: Mapped[list[str] | None] = mapped_column(JSONType)  # None: every tool
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(40))


class ToolCallRecord(Base):
    """One line per tool call attempt: who, which tool, how it ended, how long it took.
    Never the arguments or the output (they may hold the user's data or secrets)."""

    __tablename__ = "tool_calls"
    __table_args__ = (
        Index("ix_tool_calls_created", "created_at"),
        Index("ix_tool_calls_user_created", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # No foreign keys: the log outlives users and tools.
    user_id: Mapped[str] = mapped_column(String(40))
    tool_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    error_code: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    approval_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ToolApproval(Base):
    """A tool call paused until its user approves or rejects it."""

    __tablename__ = "tool_approvals"
    __table_args__ = (Index("ix_tool_approvals_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("users.id", ondelete="CASCADE"))
    tool_id: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONType)
    categories: Mapped[list[str]] = mapped_column(JSONType)
    source: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(128))  # the model's tool call id
    status: Mapped[str] = mapped_column(String(16))  # pending|approved|rejected|expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Once approved and run: how it ended and what it returned (capped).
    result_status: Mapped[str | None] = mapped_column(String(24))
    result_output: Mapped[str | None] = mapped_column(Text)
    result_error_code: Mapped[str | None] = mapped_column(String(64))
