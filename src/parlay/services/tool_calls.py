"""The tool call log, read by admins: who called which tool, how it ended, how long it took."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.repositories import tool_calls as repo


@dataclass(frozen=True, slots=True)
class ToolCallView:
    id: str
    user_id: str
    tool: str
    source: str
    status: str
    error_code: str | None
    duration_ms: int
    approval_id: str | None
    created_at: datetime


async def list_calls(session: AsyncSession, *, limit: int, offset: int,
                     user_id: str | None = None, tool: str | None = None,
                     status: str | None = None) -> tuple[list[ToolCallView], bool]:
    """A page, newest first, and whether more follow."""
    rows = await repo.list_calls(session, limit=limit + 1, offset=offset, user_id=user_id,
                                 tool_id=tool, status=status)
    views = [ToolCallView(r.id, r.user_id, r.tool_id, r.source, r.status, r.error_code,
                          r.duration_ms, r.approval_id, r.created_at) for r in rows[:limit]]
    return views, len(rows) > limit
