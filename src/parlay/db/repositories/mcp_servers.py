"""SQL for external MCP servers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.models.tools import McpServer


async def list_servers(session: AsyncSession) -> Sequence[McpServer]:
    return (await session.scalars(select(McpServer).order_by(McpServer.name))).all()


async def get_server(session: AsyncSession, server_id: str, *, for_update: bool = False
                     ) -> McpServer | None:
    query = select(McpServer).where(McpServer.id == server_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def get_by_name(session: AsyncSession, name: str) -> McpServer | None:
    return await session.scalar(select(McpServer).where(McpServer.name == name))
