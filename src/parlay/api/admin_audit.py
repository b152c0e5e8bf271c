"""/v1/admin/audit: the log of admin changes, newest first, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from parlay.api.admin_users import Limit, Offset, page_of
from parlay.api.deps import AdminUser, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Page, ViewOut
from parlay.services import audit as audit_service

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)


class AuditOut(ViewOut):
    id: str
    object: Literal["audit_entry"] = "audit_entry"
    actor_id: str
    action: str
    target_type: str
    target_id: str
    changes: dict[str, Any]
    created_at: datetime


@router.get("/audit", response_model=Page[AuditOut])
async def list_audit(
    _admin: AdminUser, session: SessionDep,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Page[AuditOut]:
    entries, has_more = await audit_service.list_entries(
        session, limit=limit, offset=offset, target_type=target_type, target_id=target_id,
        actor_id=actor_id, action=action,
    )
    return Page[AuditOut](**page_of([AuditOut.of(e) for e in entries], has_more))
