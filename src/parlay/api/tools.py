"""/v1/tools: the caller's tool catalog: every tool an admin enabled, whether the caller's
settings allow it, and what is unavailable and why."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from parlay.api.deps import Context, CurrentUser
from parlay.api.schemas import ERROR_RESPONSES, Data

router = APIRouter(prefix="/v1/tools", tags=["tools"], responses=ERROR_RESPONSES)


class ToolOut(BaseModel):
    id: str
    object: Literal["tool"] = "tool"
    name: str
    description: str
    enabled_for_user: bool = Field(
        description="your settings allow it (/v1/mcp lists exactly these)")
    user_disabled_by: list[str] = Field(
        description="the settings that turn it off for you, e.g. "
        "advanced_settings.disabled_tools; empty when enabled_for_user")
    available: bool
    unavailable_reason: str | None
    input_schema: dict[str, Any]


@router.get("", response_model=Data[list[ToolOut]],
            summary="Tools the admin enabled, each with whether your settings allow it")
async def list_tools(ctx: Context, user: CurrentUser) -> Data[list[ToolOut]]:
    specs = await ctx.tools.catalog(user.user_id, with_user_disabled=True)
    return Data(data=[ToolOut(id=s.name, name=s.title, description=s.description,
                              enabled_for_user=not s.user_disabled_by,
                              user_disabled_by=list(s.user_disabled_by),
                              available=s.available, unavailable_reason=s.unavailable_reason,
                              input_schema=s.input_schema) for s in specs])
