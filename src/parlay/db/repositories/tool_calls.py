"""SQL for the tool call log and the approvals waiting on users."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.models.tools import ToolApproval, ToolCallRecord


async def add_call(session: AsyncSession, record: ToolCallRecord) -> None:
    session.add(record)


async def list_calls(
    session: AsyncSession, *, limit: int, offset: int, user_id: str | None = None,
    tool_id: str | None = None, status: str | None = None,
) -> Sequence[ToolCallRecord]:
    query = select(ToolCallRecord).order_by(ToolCallRecord.created_at.desc(),
                                            ToolCallRecord.id.desc())
    if user_id is not None:
        query = query.where(ToolCallRecord.user_id == user_id)
    if tool_id is not None:
        query = query.where(ToolCallRecord.tool_id == tool_id)
    if status is not None:
        query = query.where(ToolCallRecord.status == status)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def get_approval(session: AsyncSession, user_id: str, approval_id: str
                       ) -> ToolApproval | None:
    return await session.scalar(select(ToolApproval).where(
        ToolApproval.id == approval_id, ToolApproval.user_id == user_id))


async def list_approvals(session: AsyncSession, user_id: str, *, status: str | None,
                         limit: int, offset: int, now: datetime) -> Sequence[ToolApproval]:
    """Newest first. A pending approval past its expiry counts as expired."""
    query = select(ToolApproval).where(ToolApproval.user_id == user_id)
    if status == "pending":
        query = query.where(ToolApproval.status == "pending", ToolApproval.expires_at > now)
    elif status == "expired":
        query = query.where(or_(ToolApproval.status == "expired", and_(
            ToolApproval.status == "pending", ToolApproval.expires_at <= now)))
    elif status is not None:
        query = query.where(ToolApproval.status == status)
    query = query.order_by(ToolApproval.created_at.desc(), ToolApproval.id.desc())
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def decide(session: AsyncSession, user_id: str, approval_id: str, *, status: str,
                 now: datetime) -> bool:
    """pending -> status, only if still pending and unexpired; True when this call won."""
    result = await session.execute(
        update(ToolApproval)
        .where(ToolApproval.id == approval_id, ToolApproval.user_id == user_id,
               ToolApproval.status == "pending", ToolApproval.expires_at > now)
        .values(status=status, decided_at=now))
    return result.rowcount == 1


async def expire(session: AsyncSession, user_id: str, approval_id: str, now: datetime) -> None:
    await session.execute(
        update(ToolApproval)
        .where(ToolApproval.id == approval_id, ToolApproval.user_id == user_id,
               ToolApproval.status == "pending", ToolApproval.expires_at <= now)
        .values(status="expired", decided_at=now))
