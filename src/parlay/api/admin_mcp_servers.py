"""/v1/admin/mcp/servers: external MCP servers whose tools join the registry, for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.responses import Response

from parlay.api.deps import AdminUser, Context, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Data
from parlay.providers.config import check_base_url
from parlay.services.mcp_servers import (
    HEADER_NAME_PATTERN,
    HEADER_VALUE_PATTERN,
    NAME_PATTERN,
    TOOL_NAME_PATTERN,
    McpServerAdmin,
    ServerView,
)

router = APIRouter(prefix="/v1/admin/mcp/servers", tags=["admin: tools"],
                   responses=ERROR_RESPONSES)

ServerId = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_-]{1,40}$")]
HeaderName = Annotated[str, StringConstraints(pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, StringConstraints(pattern=HEADER_VALUE_PATTERN)]
ToolName = Annotated[str, StringConstraints(pattern=TOOL_NAME_PATTERN)]
Headers = Annotated[dict[HeaderName, HeaderValue], Field(
    max_length=20, description="sent with every request to the server (e.g. Authorization); "
                               "stored encrypted, never returned")]
AllowedTools = Annotated[list[ToolName], Field(
    max_length=200, description="the server's tool names to take; null: all of them")]


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="prefix of its tools' ids")
    url: str = Field(min_length=1, max_length=2000, examples=["http://127.0.0.1:9000/mcp"])
    headers: Headers | None = None
    allowed_tools: AllowedTools | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        check_base_url(value)
        return value


class ServerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    headers: Headers | None = Field(default=None, description="replaces every header; "
                                                              "{} or null removes them")
    allowed_tools: AllowedTools | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_base_url(value)
        return value


class ServerOut(BaseModel):
    id: str
    object: Literal["mcp_server"] = "mcp_server"
    name: str
    url: str
    header_names: list[str]
    allowed_tools: list[str] | None
    enabled: bool
    tools: list[str] = Field(description="ids of its tools in /v1/admin/mcp/tools")
    last_synced_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str | None

    @classmethod
    def of(cls, view: ServerView) -> ServerOut:
        return cls(id=view.id, name=view.name, url=view.url, header_names=view.header_names,
                   allowed_tools=view.allowed_tools, enabled=view.enabled, tools=view.tools,
                   last_synced_at=view.last_synced_at, last_error=view.last_error,
                   created_at=view.created_at, updated_at=view.updated_at,
                   updated_by=view.updated_by)


async def get_admin(ctx: Context, session: SessionDep) -> McpServerAdmin:
    # Listing a server's tools is quick or broken: do not hold an admin request for long.
    return McpServerAdmin(session, ctx.tools.secrets, timeout=min(ctx.settings.tool_timeout, 10))


Servers = Annotated[McpServerAdmin, Depends(get_admin)]


@router.get("", response_model=Data[list[ServerOut]])
async def list_servers(_admin: AdminUser, servers: Servers) -> Data[list[ServerOut]]:
    return Data(data=[ServerOut.of(v) for v in await servers.list_servers()])


@router.post("", response_model=Data[ServerOut], status_code=status.HTTP_201_CREATED)
async def create_server(body: ServerCreate, admin: AdminUser, servers: Servers
                        ) -> Data[ServerOut]:
    """Saves the server, then lists its tools at once (`last_error` says if that failed)."""
    view = await servers.create(admin.user_id, body.model_dump())
    return Data(data=ServerOut.of(view))


@router.get("/{server_id}", response_model=Data[ServerOut])
async def get_server(server_id: ServerId, _admin: AdminUser, servers: Servers
                     ) -> Data[ServerOut]:
    return Data(data=ServerOut.of(await servers.get_server(server_id)))


@router.patch("/{server_id}", response_model=Data[ServerOut])
async def update_server(server_id: ServerId, body: ServerPatch, admin: AdminUser,
                        servers: Servers) -> Data[ServerOut]:
    patch = body.model_dump(exclude_unset=True)
    for key in ("url", "enabled"):
        if patch.get(key, True) is None:
            patch.pop(key)  # null means "leave as is" for these
    return Data(data=ServerOut.of(await servers.update(admin.user_id, server_id, patch)))


@router.delete("/{server_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_server(server_id: ServerId, admin: AdminUser, servers: Servers) -> Response:
    await servers.delete(admin.user_id, server_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{server_id}/sync", response_model=Data[ServerOut])
async def sync_server(server_id: ServerId, _admin: AdminUser, servers: Servers
                      ) -> Data[ServerOut]:
    """Lists the server's tools now; `last_error` says how it went."""
    return Data(data=ServerOut.of(await servers.sync(server_id)))
