"""Nothing stays `in_progress` forever: replies and streamed responses whose writer died
(crash, SIGKILL, lost worker) stop getting checkpoints, and are marked `incomplete` at
start-up and periodically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.repositories import items as item_repo
from parlay.db.repositories import responses as response_repo

log = logging.getLogger("parlay.replies")
# incomplete_details of a response whose stream died with its worker.
INTERRUPTED = {"reason": None, "cause": "interrupted",
               "message": "the server stopped while this response was being written"}


class ReplySweeper:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], stale_after: float) -> None:
        self._sessionmaker = sessionmaker
        self._stale_after = stale_after
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        stale = timedelta(seconds=self._stale_after)
        async with self._sessionmaker() as session:
            count = await item_repo.mark_stale_in_progress_incomplete(session, older_than=stale)
            count += await response_repo.mark_stale_in_progress_incomplete(
                session, older_than=stale, details=INTERRUPTED)
            await session.commit()
        if count:
            log.warning("marked %d orphaned in-progress replies incomplete", count)
        return count

    async def start(self) -> None:
        await self.sweep()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(max(self._stale_after / 2, 1.0))
            try:
                await self.sweep()
            except Exception as exc:  # the database may be down for a while; try again later
                log.warning("reply sweep failed: %s", exc)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
