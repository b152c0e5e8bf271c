"""SQL for the admin audit log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id
from parlay.db.models.audit import AuditEntry


async def add(
    session: AsyncSession, *, actor_id: str, action: str, target_type: str, target_id: str,
    changes: dict[str, Any],
) -> AuditEntry:
    entry = AuditEntry(id=new_id("aud"), actor_id=actor_id, action=action,
                       target_type=target_type, target_id=target_id, changes=changes)
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(
    session: AsyncSession, *, limit: int, offset: int, target_type: str | None = None,
    target_id: str | None = None, actor_id: str | None = None, action: str | None = None,
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return (await session.scalars(query.limit(limit).offset(offset))).all()
