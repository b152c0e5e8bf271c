"""External MCP servers an admin registers: their tools join the registry beside built-ins.

A server has a URL, request headers (secrets: stored Fernet-encrypted, shown only by name)
and optionally the names of the tools to take from it (null: all). Registering, changing or
syncing a server lists its tools and upserts one registry row per allowed tool, id
`<server name>__<tool name>`, category `mcp`: admins then switch and filter those rows like
any built-in (/v1/admin/mcp/tools/{id}); their settings survive later syncs. Tools the
server no longer offers (or no longer allowed) are removed. A server that cannot be reached
is still saved, with `last_error`; its known tools stay until a sync succeeds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id, utcnow
from parlay.db.models.tools import McpServer, McpTool
from parlay.db.repositories import mcp_servers as repo
from parlay.db.repositories import tools as tool_repo
from parlay.errors import Conflict, NotFound
from parlay.services import audit
from parlay.services.secretbox import SecretBox
from parlay.tools.base import ToolFailure
from parlay.tools.filters import ContentFilter
from parlay.tools.mcp_client import McpRemote, RemoteTool

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"
HEADER_VALUE_PATTERN = r"^[\t\x20-\x7e\x80-\xff]{0,4000}$"
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_.:/-]{1,128}$"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class ServerView:
    id: str
    name: str
    url: str
    header_names: list[str]
    allowed_tools: list[str] | None
    enabled: bool
    tools: list[str]
    last_synced_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str | None


class McpServerAdmin:
    def __init__(self, session: AsyncSession, secrets: SecretBox, *, timeout: float) -> None:
        self.session = session
        self.secrets = secrets
        self.timeout = timeout

    async def list_servers(self) -> list[ServerView]:
        return [await self._view(row) for row in await repo.list_servers(self.session)]

    async def get_server(self, server_id: str) -> ServerView:
        return await self._view(await self._row(server_id))

    async def create(self, actor_id: str, data: dict[str, Any]) -> ServerView:
        if await repo.get_by_name(self.session, data["name"]) is not None:
            raise Conflict(f"an MCP server named {data['name']!r} exists",
                           code="mcp_server_exists", param="name")
        now = utcnow()
        row = McpServer(id=new_id("mcps"), name=data["name"], url=data["url"],
                        allowed_tools=data.get("allowed_tools"),
                        enabled=data.get("enabled", True), created_at=now, updated_at=now,
                        updated_by=actor_id, header_names=[])
        self._set_headers(row, data.get("headers") or {})
        self.session.add(row)
        await audit.record(self.session, actor_id=actor_id, action="mcp_server.create",
                           target_type="mcp_server", target_id=row.id,
                           changes={"before": {}, "after": _auditable(row)})
        await self.session.commit()
        return await self.sync(row.id)

    async def update(self, actor_id: str, server_id: str, patch: dict[str, Any]) -> ServerView:
        row = await self._row(server_id, for_update=True)
        before = _auditable(row)
        for key in ("url", "allowed_tools", "enabled"):
            if key in patch:
                setattr(row, key, patch[key])
        if "headers" in patch:
            self._set_headers(row, patch["headers"] or {})
        changes = audit.diff(before, _auditable(row))
        if "headers" in patch:  # values are secret: record that they were replaced
            changes = changes or {"before": {}, "after": {}}
            changes["after"]["headers"] = "replaced"
        if changes is None:
            await self.session.commit()
            return await self._view(row)
        row.updated_at, row.updated_by = utcnow(), actor_id
        await audit.record(self.session, actor_id=actor_id, action="mcp_server.update",
                           target_type="mcp_server", target_id=row.id, changes=changes)
        await self.session.commit()
        return await self.sync(row.id)

    async def delete(self, actor_id: str, server_id: str) -> None:
        row = await self._row(server_id, for_update=True)
        await audit.record(self.session, actor_id=actor_id, action="mcp_server.delete",
                           target_type="mcp_server", target_id=row.id,
                           changes={"before": _auditable(row), "after": {}})
        await tool_repo.delete_tools(
            self.session, [t.id for t in await tool_repo.list_for_server(self.session, row.id)])
        await self.session.delete(row)
        await self.session.commit()

    async def sync(self, server_id: str) -> ServerView:
        """Ask the server for its tools now (no database connection held meanwhile)."""
        row = await self._row(server_id)
        url, headers, enabled = row.url, self._headers(row), row.enabled
        await self.session.commit()
        if not enabled:
            return await self._view(row)
        try:
            listed = await McpRemote(url, headers, self.timeout).list_tools()
        except ToolFailure as failure:
            row = await self._row(server_id, for_update=True)
            row.last_error = failure.message[:1000]
            await self.session.commit()
            return await self._view(row)
        row = await self._row(server_id, for_update=True)
        await self._store_tools(row, listed)
        row.last_synced_at, row.last_error = utcnow(), None
        await self.session.commit()
        return await self._view(row)

    async def _store_tools(self, row: McpServer, listed: list[RemoteTool]) -> None:
        allowed = None if row.allowed_tools is None else set(row.allowed_tools)
        existing = {t.id: t for t in await tool_repo.list_for_server(self.session, row.id)}
        kept: set[str] = set()
        now = utcnow()
        for remote in listed:
            if allowed is not None and remote.name not in allowed:
                continue
            tool_id = f"{row.name}__{_UNSAFE.sub('_', remote.name)}"[:64]
            if tool_id in kept:
                continue  # two remote names that read the same once made safe: first wins
            kept.add(tool_id)
            tool = existing.get(tool_id)
            if tool is None:
                if await tool_repo.get_tool(self.session, tool_id) is not None:
                    continue  # the id belongs to something else (a built-in): never replace
                tool = McpTool(id=tool_id, category="mcp", enabled=True, reason=None,
                               content_filter=ContentFilter().to_json(), updated_at=now,
                               updated_by=None, server_id=row.id)
                self.session.add(tool)
            tool.name = remote.name[:200]
            tool.description = remote.description[:4000] or f"{remote.name} ({row.name})"
            tool.upstream_name = remote.name
            tool.input_schema = remote.input_schema or {"type": "object"}
        await tool_repo.delete_tools(self.session, [i for i in existing if i not in kept])

    def _set_headers(self, row: McpServer, headers: dict[str, str]) -> None:
        row.headers_encrypted = (self.secrets.encrypt(orjson.dumps(headers).decode())
                                 if headers else None)
        row.header_names = sorted(headers)

    def _headers(self, row: McpServer) -> dict[str, str]:
        if not row.headers_encrypted:
            return {}
        plain = self.secrets.decrypt(row.headers_encrypted)
        return orjson.loads(plain) if plain else {}

    async def _row(self, server_id: str, *, for_update: bool = False) -> McpServer:
        row = await repo.get_server(self.session, server_id, for_update=for_update)
        if row is None:
            raise NotFound(f"no MCP server {server_id!r}", code="mcp_server_not_found",
                           param="server_id")
        return row

    async def _view(self, row: McpServer) -> ServerView:
        tools = [t.id for t in await tool_repo.list_for_server(self.session, row.id)]
        return ServerView(row.id, row.name, row.url, list(row.header_names or []),
                          row.allowed_tools, row.enabled, tools, row.last_synced_at,
                          row.last_error, row.created_at, row.updated_at, row.updated_by)


def _auditable(row: McpServer) -> dict[str, Any]:
    """What changed, never a header value (only which headers are set)."""
    return {"name": row.name, "url": row.url, "header_names": sorted(row.header_names or []),
            "allowed_tools": row.allowed_tools, "enabled": row.enabled}
