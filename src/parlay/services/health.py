"""Readiness: the database answers within a short time, else 503."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from parlay.db.repositories import health as repo
from parlay.errors import ServiceUnavailable

READY_TIMEOUT = 2.0


async def check_ready(engine: AsyncEngine) -> None:
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await repo.ping(engine)
    except Exception as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}",
                                 code="database_unavailable") from None
