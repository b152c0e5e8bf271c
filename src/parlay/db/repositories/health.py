"""SQL for operations: is the database answering?"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def ping(engine: AsyncEngine) -> None:
    """One round trip on a fresh checkout; raises what the driver raises."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
