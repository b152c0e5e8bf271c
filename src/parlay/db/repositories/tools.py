"""SQL for the MCP tool registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.models.tools import McpTool
from parlay.db.repositories.upsert import insert_ignoring_conflicts


async def insert_missing(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await insert_ignoring_conflicts(session, McpTool, rows)


async def list_tools(
    session: AsyncSession, *, enabled: bool | None = None, category: str | None = None
) -> Sequence[McpTool]:
    query = select(McpTool).order_by(McpTool.id)
    if enabled is not None:
        query = query.where(McpTool.enabled == enabled)
    if category is not None:
        query = query.where(McpTool.category == category)
    return (await session.scalars(query)).all()


async def get_tool(session: AsyncSession, tool_id: str, *, for_update: bool = False
                   ) -> McpTool | None:
    query = select(McpTool).where(McpTool.id == tool_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def list_for_server(session: AsyncSession, server_id: str) -> Sequence[McpTool]:
    return (await session.scalars(
        select(McpTool).where(McpTool.server_id == server_id).order_by(McpTool.id))).all()


async def delete_tools(session: AsyncSession, tool_ids: list[str]) -> None:
    if tool_ids:
        await session.execute(delete(McpTool).where(McpTool.id.in_(tool_ids)))
