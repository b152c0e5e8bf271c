"""/v1/tools: the caller's tool catalog: what they may use, and what is unavailable and why."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from parlay.api.deps import Context, CurrentUser
from parlay.api.schemas import ERROR_RESPONSES, Data

router = APIRouter(prefix="/v1/tools", tags=["tools"], responses=ERROR_RESPONSES)


class ToolOut(BaseModel):
    id: str
    object: Literal["tool"] = "tool"
    name: str
    description: str
    available: bool
    unavailable_reason: str | None
    input_schema: dict[str, Any]


@router.get("", response_model=Data[list[ToolOut]],
            summary="Tools the admin enabled and your settings allow (as /v1/mcp lists them)")
async def list_tools(ctx: Context, user: CurrentUser) -> Data[list[ToolOut]]:
    specs = await ctx.tools.catalog(user.user_id)
    return Data(data=[ToolOut(id=s.name, name=s.title, description=s.description,
                              available=s.available, unavailable_reason=s.unavailable_reason,
                              input_schema=s.input_schema) for s in specs])
