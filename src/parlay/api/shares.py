"""Share links, for their owner: create, list, revoke, read feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, status
from pydantic import BaseModel, Field
from starlette.responses import Response

from parlay.api.deps import CurrentUser, SessionDep
from parlay.api.ids import ConversationId, ShareId
from parlay.api.schemas import ERROR_RESPONSES, Data, Page, ViewOut
from parlay.services.conversations import PageResult
from parlay.services.shares import ShareService, ShareView

router = APIRouter(tags=["shares"], responses=ERROR_RESPONSES)

TEN_YEARS = 10 * 365 * 24 * 3600


class ShareCreate(BaseModel):
    expires_in: int | None = Field(default=None, ge=1, le=TEN_YEARS,
                                   description="seconds until the link stops working; "
                                               "null: never")
    read_only: bool = Field(default=True, description="false lets signed-in viewers copy "
                                                      "the conversation into their own")
    allow_feedback: bool = Field(default=False, description="viewers may post a rating and "
                                                            "comment")


class ShareOut(BaseModel):
    id: str
    object: Literal["share"] = "share"
    conversation_id: str | None
    share_token: str
    share_link: str
    status: Literal["active", "expired", "revoked"]
    read_only: bool
    allow_feedback: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, share: ShareView, base_url: str) -> ShareOut:
        return cls(id=share.id, conversation_id=share.conversation_id,
                   share_token=share.token, share_link=f"{base_url}/share/{share.token}",
                   status=share.status, read_only=share.read_only,
                   allow_feedback=share.allow_feedback, expires_at=share.expires_at,
                   revoked_at=share.revoked_at, created_at=share.created_at)


class FeedbackOut(ViewOut):
    id: str
    object: Literal["share.feedback"] = "share.feedback"
    rating: int | None
    comment: str | None
    created_at: datetime


def public_base_url(request: Request) -> str:
    """PARLAY_PUBLIC_URL when set (behind a proxy), else the URL this request came to."""
    configured = request.app.state.ctx.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


async def get_share_service(session: SessionDep) -> ShareService:
    return ShareService(session)


Shares = Annotated[ShareService, Depends(get_share_service)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def _page(result: PageResult[ShareView], request: Request) -> Page[ShareOut]:
    base = public_base_url(request)
    data = [ShareOut.of(share, base) for share in result.rows]
    return Page(data=data, has_more=result.has_more, total=result.total,
                first_id=data[0].id if data else None, last_id=data[-1].id if data else None)


@router.post("/v1/conversations/{conversation_id}/share", status_code=status.HTTP_201_CREATED,
             response_model=Data[ShareOut])
async def create_share(
    conversation_id: ConversationId, request: Request, user: CurrentUser, shares: Shares,
    body: Annotated[ShareCreate | None, Body()] = None,
) -> Data[ShareOut]:
    body = body or ShareCreate()
    share = await shares.create(user.user_id, conversation_id, expires_in=body.expires_in,
                                read_only=body.read_only, allow_feedback=body.allow_feedback)
    return Data(data=ShareOut.of(share, public_base_url(request)))


@router.get("/v1/conversations/{conversation_id}/shares", response_model=Page[ShareOut])
async def conversation_shares(conversation_id: ConversationId, request: Request, user: CurrentUser,
                              shares: Shares, limit: Limit = 20,
                              offset: Offset = 0) -> Page[ShareOut]:
    result = await shares.list(user.user_id, limit=limit, offset=offset,
                               conversation_id=conversation_id)
    return _page(result, request)


@router.get("/v1/shares", response_model=Page[ShareOut])
async def list_shares(request: Request, user: CurrentUser, shares: Shares, limit: Limit = 20,
                      offset: Offset = 0) -> Page[ShareOut]:
    """Every share of the caller, newest first, with its status (active/expired/revoked)."""
    return _page(await shares.list(user.user_id, limit=limit, offset=offset), request)


@router.get("/v1/shares/{share_id}", response_model=Data[ShareOut])
async def get_share(share_id: ShareId, request: Request, user: CurrentUser,
                    shares: Shares) -> Data[ShareOut]:
    return Data(data=ShareOut.of(await shares.get(user.user_id, share_id),
                                 public_base_url(request)))


@router.delete("/v1/shares/{share_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def revoke_share(share_id: ShareId, user: CurrentUser, shares: Shares) -> Response:
    await shares.revoke(user.user_id, share_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/shares/{share_id}/feedback", response_model=Data[list[FeedbackOut]])
async def share_feedback(share_id: ShareId, user: CurrentUser, shares: Shares, limit: Limit = 50,
                         offset: Offset = 0) -> Data[list[FeedbackOut]]:
    rows = await shares.feedback(user.user_id, share_id, limit=limit, offset=offset)
    return Data(data=[FeedbackOut.of(row) for row in rows])
