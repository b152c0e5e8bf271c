"""The MCP tool registry rows: seeding the built-ins, listing, and admin changes (audited).

Running tools with every rule applied is services/tool_registry.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.models.tools import McpTool
from parlay.db.repositories import tools as repo
from parlay.errors import NotFound, ValidationFailed
from parlay.services import audit
from parlay.tools.builtins import BUILTIN_TOOLS, BUILTINS_BY_ID
from parlay.tools.filters import ContentFilter, FilterError, clean_approval_items, clean_keywords


@dataclass(frozen=True, slots=True)
class ToolView:
    id: str
    name: str
    description: str
    category: str
    enabled: bool
    reason: str | None
    content_filter: ContentFilter
    updated_at: datetime
    updated_by: str | None
    input_schema: dict[str, Any]
    server_id: str | None = None  # set for an external MCP server's tool
    upstream_name: str | None = None
    available: bool = True
    unavailable_reason: str | None = None

    @classmethod
    def of(cls, row: McpTool) -> ToolView:
        builtin = BUILTINS_BY_ID.get(row.id) if row.server_id is None else None
        schema = builtin.input_schema if builtin else (row.input_schema or {"type": "object"})
        return cls(row.id, row.name, row.description, row.category, row.enabled, row.reason,
                   ContentFilter.from_json(row.content_filter), row.updated_at, row.updated_by,
                   schema, row.server_id, row.upstream_name)

    @property
    def kind(self) -> str:
        """code | web | mcp: what a call of it does, for approval categories."""
        return "mcp" if self.server_id else self.category

    def unavailable(self, reason: str | None) -> ToolView:
        return replace(self, available=reason is None, unavailable_reason=reason)


async def ensure_builtin_tools(session: AsyncSession) -> None:
    """Idempotent start-up seeding: add missing built-ins (enabled, no filter) and keep the
    code-owned fields (name, description, category) current. Admin choices are untouched."""
    now = utcnow()
    await repo.insert_missing(session, [
        {"id": t.id, "name": t.name, "description": t.description, "category": t.category,
         "enabled": True, "reason": None, "content_filter": ContentFilter().to_json(),
         "updated_at": now, "updated_by": None}
        for t in BUILTIN_TOOLS
    ])
    rows = {row.id: row for row in await repo.list_tools(session)}
    for tool in BUILTIN_TOOLS:
        row = rows[tool.id]
        row.name, row.description, row.category = tool.name, tool.description, tool.category
    await session.commit()


async def list_tools(
    session: AsyncSession, *, enabled: bool | None = None, category: str | None = None
) -> list[ToolView]:
    return [ToolView.of(row) for row in await repo.list_tools(
        session, enabled=enabled, category=category)]


async def get_tool(session: AsyncSession, tool_id: str) -> ToolView:
    return ToolView.of(await _row(session, tool_id))


async def update_tool(
    session: AsyncSession, tool_id: str, actor_id: str, patch: dict[str, Any]
) -> ToolView:
    """Apply the fields present in `patch` (enabled, reason, content_filter with either
    list); absent fields keep their values. Writes an audit row when anything changed."""
    row = await _row(session, tool_id, for_update=True)
    before = _auditable(row)
    if "enabled" in patch:
        row.enabled = patch["enabled"]
    if "reason" in patch:
        row.reason = (patch["reason"] or "").strip() or None
    if patch.get("content_filter") is not None:
        row.content_filter = _merged_filter(row.content_filter, patch["content_filter"])
    changes = audit.diff(before, _auditable(row))
    if changes is not None:
        row.updated_at = utcnow()
        row.updated_by = actor_id
        await audit.record(session, actor_id=actor_id, action="mcp_tool.update",
                           target_type="mcp_tool", target_id=row.id, changes=changes)
    await session.commit()
    return ToolView.of(row)


async def _row(session: AsyncSession, tool_id: str, *, for_update: bool = False) -> McpTool:
    row = await repo.get_tool(session, tool_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no MCP tool {tool_id!r}", code="tool_not_found", param="tool_id")
    return row


def _auditable(row: McpTool) -> dict[str, Any]:
    return {"enabled": row.enabled, "reason": row.reason,
            "content_filter": ContentFilter.from_json(row.content_filter).to_json()}


def _merged_filter(current: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any]:
    merged = ContentFilter.from_json(current).to_json()
    cleaners = {"disallowed_keywords": clean_keywords,
                "require_approval_for": clean_approval_items}
    for key, clean in cleaners.items():
        if key not in patch:
            continue
        try:
            merged[key] = clean(patch[key] or [])
        except FilterError as exc:
            param = f"content_filter.{key}" + (f".{exc.index}" if exc.index is not None else "")
            raise ValidationFailed(f"{param}: {exc}", code="invalid_content_filter",
                                   param=param) from None
    return merged
