"""The admin audit log: what changed, who changed it, before and after."""

from __future__ import annotations

from collections.abc import Sequence
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


async def list_entries(
    session: AsyncSession, *, limit: int, offset: int, target_type: str | None = None,
    target_id: str | None = None, actor_id: str | None = None, action: str | None = None,
) -> tuple[Sequence[AuditEntry], bool]:
    """A page, newest first, and whether more entries follow."""
    rows = await repo.list_entries(
        session, limit=limit + 1, offset=offset, target_type=target_type,
        target_id=target_id, actor_id=actor_id, action=action,
    )
    return rows[:limit], len(rows) > limit
