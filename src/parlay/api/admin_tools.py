"""/v1/admin/mcp/tools: the MCP tool registry, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from parlay.api.deps import AdminUser, Context, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Data
from parlay.services import tools as service
from parlay.services.text import StorableText
from parlay.services.tools import ToolView
from parlay.tools.filters import MAX_APPROVAL_ITEMS, MAX_KEYWORD_LENGTH, MAX_KEYWORDS

router = APIRouter(prefix="/v1/admin/mcp/tools", tags=["admin"], responses=ERROR_RESPONSES)

ToolId = Annotated[str, Path(max_length=64)]


class ContentFilterOut(BaseModel):
    disallowed_keywords: list[str]
    require_approval_for: list[str]


class ToolOut(BaseModel):
    id: str
    object: Literal["mcp_tool"] = "mcp_tool"
    name: str
    description: str
    category: str
    enabled: bool
    reason: str | None
    content_filter: ContentFilterOut
    updated_at: datetime
    updated_by: str | None
    available: bool
    unavailable_reason: str | None
    server_id: str | None
    input_schema: dict[str, Any]

    @classmethod
    def of(cls, tool: ToolView) -> ToolOut:
        return cls(id=tool.id, name=tool.name, description=tool.description,
                   category=tool.category, enabled=tool.enabled, reason=tool.reason,
                   content_filter=ContentFilterOut(**tool.content_filter.to_json()),
                   updated_at=tool.updated_at, updated_by=tool.updated_by,
                   available=tool.available, unavailable_reason=tool.unavailable_reason,
                   server_id=tool.server_id, input_schema=tool.input_schema)


class ContentFilterPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    disallowed_keywords: list[Annotated[str, Field(max_length=MAX_KEYWORD_LENGTH)]] | None = (
        Field(default=None, max_length=MAX_KEYWORDS,
              description="plain strings matched case-insensitively; replaces the list"))
    require_approval_for: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=MAX_APPROVAL_ITEMS,
        description="capability names such as system_calls; replaces the list")


class ToolPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool | None = None
    reason: StorableText | None = Field(default=None, max_length=500)
    content_filter: ContentFilterPatch | None = None


@router.get("", response_model=Data[list[ToolOut]])
async def list_tools(
    _admin: AdminUser, session: SessionDep, ctx: Context,
    enabled: bool | None = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
) -> Data[list[ToolOut]]:
    tools = await ctx.tools.all_tools(session, enabled=enabled, category=category)
    return Data(data=[ToolOut.of(t) for t in tools])


@router.get("/{tool_id}", response_model=Data[ToolOut])
async def get_tool(tool_id: ToolId, _admin: AdminUser, session: SessionDep, ctx: Context
                   ) -> Data[ToolOut]:
    return Data(data=ToolOut.of(await ctx.tools.describe(session, tool_id)))


@router.patch("/{tool_id}", response_model=Data[ToolOut])
async def update_tool(
    tool_id: ToolId, body: ToolPatch, admin: AdminUser, session: SessionDep, ctx: Context
) -> Data[ToolOut]:
    patch = body.model_dump(exclude_unset=True)
    if patch.get("enabled", True) is None:
        patch.pop("enabled")  # null means "leave as is"; enabled has no default to restore
    await service.update_tool(session, tool_id, admin.user_id, patch)
    return Data(data=ToolOut.of(await ctx.tools.describe(session, tool_id)))
