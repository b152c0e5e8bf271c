"""/v1/tool-approvals: tool calls paused for the caller's approval; approve runs the call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from parlay.api.admin_users import Limit, Offset, page_of
from parlay.api.deps import Context, CurrentUser, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Data, Page
from parlay.services import tool_approvals as service
from parlay.services.tool_approvals import ApprovalView

router = APIRouter(prefix="/v1/tool-approvals", tags=["tools"], responses=ERROR_RESPONSES)

ApprovalId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Status = Literal["pending", "approved", "rejected", "expired"]


class ApprovalResult(BaseModel):
    status: str
    output: str | None
    error_code: str | None


class ApprovalOut(BaseModel):
    id: str
    object: Literal["tool_approval"] = "tool_approval"
    tool: str
    arguments: dict[str, Any]
    categories: list[str]
    source: str
    call_id: str | None
    status: Status
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    result: ApprovalResult | None

    @classmethod
    def of(cls, view: ApprovalView) -> ApprovalOut:
        result = (ApprovalResult(status=view.result_status, output=view.result_output,
                                 error_code=view.result_error_code)
                  if view.result_status else None)
        return cls(id=view.id, tool=view.tool, arguments=view.arguments,
                   categories=view.categories, source=view.source, call_id=view.call_id,
                   status=view.status, created_at=view.created_at, expires_at=view.expires_at,
                   decided_at=view.decided_at, result=result)


@router.get("", response_model=Page[ApprovalOut])
async def list_approvals(
    user: CurrentUser, session: SessionDep,
    status: Annotated[Status | None, Query()] = None,
    limit: Limit = 20, offset: Offset = 0,
) -> Page[ApprovalOut]:
    views, has_more = await service.list_approvals(session, user.user_id, status=status,
                                                   limit=limit, offset=offset)
    return Page[ApprovalOut](**page_of([ApprovalOut.of(v) for v in views], has_more))


@router.get("/{approval_id}", response_model=Data[ApprovalOut])
async def get_approval(approval_id: ApprovalId, user: CurrentUser, session: SessionDep
                       ) -> Data[ApprovalOut]:
    return Data(data=ApprovalOut.of(await service.get_approval(session, user.user_id,
                                                               approval_id)))


@router.post("/{approval_id}/approve", response_model=Data[ApprovalOut])
async def approve(approval_id: ApprovalId, user: CurrentUser, session: SessionDep,
                  ctx: Context) -> Data[ApprovalOut]:
    """Runs the call now (every other rule checked again); `result` holds how it ended."""
    view, _outcome = await service.approve(session, ctx.tools, user.user_id, approval_id)
    return Data(data=ApprovalOut.of(view))


@router.post("/{approval_id}/reject", response_model=Data[ApprovalOut])
async def reject(approval_id: ApprovalId, user: CurrentUser, session: SessionDep
                 ) -> Data[ApprovalOut]:
    return Data(data=ApprovalOut.of(await service.reject(session, user.user_id, approval_id)))
