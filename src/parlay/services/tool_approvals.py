"""Tool calls waiting for their user's approval: list, approve (the call runs then), reject.

A call pauses here when a tool's `require_approval_for` names a category the call falls in
(services/tool_registry.py). Only the call's own user sees or decides it (another user's id
is 404). Approving runs the call at once with every other rule checked again, and keeps its
result on the approval; an approval undecided for 24 hours expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id, utcnow
from parlay.db.models.tools import ToolApproval, ToolCallRecord
from parlay.db.repositories import tool_calls as repo
from parlay.errors import Conflict, NotFound
from parlay.services.tool_registry import STORED_OUTPUT_CHARS, ToolOutcome, ToolRegistry


@dataclass(frozen=True, slots=True)
class ApprovalView:
    id: str
    tool: str
    arguments: dict[str, Any]
    categories: list[str]
    source: str
    call_id: str | None
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    result_status: str | None
    result_output: str | None
    result_error_code: str | None

    @classmethod
    def of(cls, row: ToolApproval) -> ApprovalView:
        status = row.status
        if status == "pending" and row.expires_at <= utcnow():
            status = "expired"
        return cls(row.id, row.tool_id, row.arguments, list(row.categories), row.source,
                   row.call_id, status, row.created_at, row.expires_at, row.decided_at,
                   row.result_status, row.result_output, row.result_error_code)


async def list_approvals(session: AsyncSession, user_id: str, *, status: str | None,
                         limit: int, offset: int) -> tuple[list[ApprovalView], bool]:
    rows = await repo.list_approvals(session, user_id, status=status, limit=limit + 1,
                                     offset=offset, now=utcnow())
    return [ApprovalView.of(r) for r in rows[:limit]], len(rows) > limit


async def get_approval(session: AsyncSession, user_id: str, approval_id: str) -> ApprovalView:
    return ApprovalView.of(await _row(session, user_id, approval_id))


async def approve(session: AsyncSession, registry: ToolRegistry, user_id: str,
                  approval_id: str) -> tuple[ApprovalView, ToolOutcome]:
    """Mark it approved (exactly once, even with concurrent requests), then run it."""
    await _decide(session, user_id, approval_id, "approved")
    row = await _row(session, user_id, approval_id)
    await session.commit()  # hold no connection while the tool runs
    outcome = await registry.run_approved(row)
    row.result_status = outcome.status
    row.result_output = outcome.output[:STORED_OUTPUT_CHARS]
    row.result_error_code = outcome.error_code
    await session.commit()
    return ApprovalView.of(row), outcome


async def reject(session: AsyncSession, user_id: str, approval_id: str) -> ApprovalView:
    await _decide(session, user_id, approval_id, "rejected")
    row = await _row(session, user_id, approval_id)
    session.add(ToolCallRecord(id=new_id("tcl"), user_id=user_id, tool_id=row.tool_id,
                               source="approval", status="rejected", error_code=None,
                               duration_ms=0, approval_id=row.id, created_at=utcnow()))
    await session.commit()
    return ApprovalView.of(row)


async def _decide(session: AsyncSession, user_id: str, approval_id: str, status: str) -> None:
    now = utcnow()
    won = await repo.decide(session, user_id, approval_id, status=status, now=now)
    await session.commit()
    if won:
        return
    row = await _row(session, user_id, approval_id)
    if row.status == "pending":  # still pending, so it ran out of time
        await repo.expire(session, user_id, approval_id, now)
        await session.commit()
        raise Conflict(f"approval {approval_id} expired at {row.expires_at.isoformat()}",
                       code="approval_expired", param="approval_id")
    raise Conflict(f"approval {approval_id} is already {row.status}",
                   code="approval_already_decided", param="approval_id")


async def _row(session: AsyncSession, user_id: str, approval_id: str) -> ToolApproval:
    row = await repo.get_approval(session, user_id, approval_id)
    if row is None:
        raise NotFound(f"no tool approval {approval_id!r}", code="approval_not_found",
                       param="approval_id")
    await session.refresh(row)
    return row
