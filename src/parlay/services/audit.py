"""The admin audit log: what changed, who changed it, before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.models.audit import AuditEntry
from parlay.db.repositories import audit as repo


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """{"before": {...}, "after": {...}} restricted to the keys whose values differ."""
    changed = [key for key in after if before.get(key) != after[key]]
    if not changed:
        return None
    return {"before": {k: before.get(k) for k in changed},
            "after": {k: after[k] for k in changed}}


async def record(
    session: AsyncSession, *, actor_id: str, action: str, target_type: str, target_id: str,
    changes: dict[str, Any],
) -> AuditEntry:
    """Adds the entry to the caller's transaction, so it commits with the change itself."""
    return await repo.add(session, actor_id=actor_id, action=action, target_type=target_type,
                          target_id=target_id, changes=changes)


@dataclass(frozen=True, slots=True)
class AuditView:
    id: str
    actor_id: str
    action: str
    target_type: str
    target_id: str
    changes: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditView:
        return cls(id=entry.id, actor_id=entry.actor_id, action=entry.action,
                   target_type=entry.target_type, target_id=entry.target_id,
                   changes=entry.changes, created_at=entry.created_at)


async def list_entries(
    session: AsyncSession, *, limit: int, offset: int, target_type: str | None = None,
    target_id: str | None = None, actor_id: str | None = None, action: str | None = None,
) -> tuple[list[AuditView], bool]:
    """A page, newest first, and whether more entries follow."""
    rows = await repo.list_entries(
        session, limit=limit + 1, offset=offset, target_type=target_type,
        target_id=target_id, actor_id=actor_id, action=action,
    )
    return [AuditView.of(row) for row in rows[:limit]], len(rows) > limit
