"""/v1/admin/tool-calls: the log of every tool call (no arguments, no output), for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from parlay.api.admin_users import Limit, Offset, page_of
from parlay.api.deps import AdminUser, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Page
from parlay.services import tool_calls as service
from parlay.services.tool_calls import ToolCallView

router = APIRouter(prefix="/v1/admin/tool-calls", tags=["admin: tools"],
                   responses=ERROR_RESPONSES)


class ToolCallOut(BaseModel):
    id: str
    object: Literal["tool_call_log"] = "tool_call_log"
    user_id: str
    tool: str
    source: str
    status: str
    error_code: str | None
    duration_ms: int
    approval_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, view: ToolCallView) -> ToolCallOut:
        return cls(id=view.id, user_id=view.user_id, tool=view.tool, source=view.source,
                   status=view.status, error_code=view.error_code,
                   duration_ms=view.duration_ms, approval_id=view.approval_id,
                   created_at=view.created_at)


@router.get("", response_model=Page[ToolCallOut])
async def list_tool_calls(
    _admin: AdminUser, session: SessionDep,
    user_id: Annotated[str | None, Query(max_length=40)] = None,
    tool: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=24)] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Page[ToolCallOut]:
    calls, has_more = await service.list_calls(session, limit=limit, offset=offset,
                                               user_id=user_id, tool=tool, status=status)
    return Page[ToolCallOut](**page_of([ToolCallOut.of(c) for c in calls], has_more))
