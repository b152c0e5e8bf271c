"""Token usage per user, day and model: recorded in memory on the hot path, written in batches.

`record()` is synchronous and only adds to a dict; a background task upserts the totals every
`interval` seconds (and at shutdown), so a chat request never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.repositories import usage as repo

log = logging.getLogger("parlay.usage")

_Key = tuple[str, date, str]  # user_id, day (UTC), model


class UsageRecorder:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *,
                 interval: float = 1.0) -> None:
        self._sessionmaker = sessionmaker
        self._interval = interval
        self._pending: dict[_Key, list[int]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def record(self, user_id: str, model: str, prompt_tokens: int,
               completion_tokens: int) -> None:
        key = (user_id, datetime.now(UTC).date(), model)
        counts = self._pending.get(key)
        if counts is None:
            self._pending[key] = [1, prompt_tokens, completion_tokens]
        else:
            counts[0] += 1
            counts[1] += prompt_tokens
            counts[2] += completion_tokens

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def flush(self) -> None:
        """Write everything recorded so far (also called before usage is read back)."""
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            try:
                await self._write(batch)
            except (DBAPIError, OSError) as exc:
                log.warning("usage write failed, will retry: %s", type(exc).__name__)
                self._merge_back(batch)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:  # the writer must outlive any one bad batch
                log.exception("usage writer failed")

    async def _write(self, batch: dict[_Key, list[int]]) -> None:
        rows = [{"user_id": u, "day": d, "model": m, "requests": c[0], "prompt_tokens": c[1],
                 "completion_tokens": c[2]} for (u, d, m), c in batch.items()]
        try:
            async with self._sessionmaker() as session, session.begin():
                await repo.add_usage(session, rows)
        except IntegrityError:
            # A user deleted since the request: write the others one by one, drop the orphan.
            for row in rows:
                with contextlib.suppress(IntegrityError):
                    async with self._sessionmaker() as session, session.begin():
                        await repo.add_usage(session, [row])

    def _merge_back(self, batch: dict[_Key, list[int]]) -> None:
        for key, counts in batch.items():
            current = self._pending.setdefault(key, [0, 0, 0])
            for i in range(3):
                current[i] += counts[i]


@dataclass(frozen=True, slots=True)
class UsageRow:
    day: date
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


async def usage_of_user(
    session: AsyncSession, recorder: UsageRecorder | None, user_id: str, days: int
) -> tuple[date, date, list[UsageRow]]:
    """Totals per day and model over the last `days` days (UTC), newest first."""
    if recorder is not None:
        await recorder.flush()
    end = datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    records = await repo.usage_of_user(session, user_id, start, end)
    rows = [UsageRow(r.day, r.model, r.requests, r.prompt_tokens, r.completion_tokens)
            for r in records]
    return start, end, rows


@dataclass(frozen=True, slots=True)
class UserUsage:
    user_id: str
    email: str | None
    role: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


async def usage_of_everyone(
    session: AsyncSession, recorder: UsageRecorder | None, days: int, top: int
) -> tuple[date, date, list[UsageRow], list[UserUsage]]:
    """All users' totals per day and model (newest first), and the `top` heaviest users."""
    if recorder is not None:
        await recorder.flush()
    end = datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    rows = [UsageRow(*r) for r in await repo.usage_by_day_and_model(session, start, end)]
    users = [UserUsage(*r) for r in await repo.top_users(session, start, end, top)]
    return start, end, rows, users
