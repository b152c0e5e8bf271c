"""SQLite under db/direct.py: reads on the event loop when they are quick, the rest on
threads with plain sqlite3 connections, every write transaction in one hop to one thread.

Handing a statement to a thread and back costs more CPU than a small indexed read takes (and
under load the event loop and the thread queue for the GIL), so SELECTs run on the loop
itself: a progress handler stops one after `budget` seconds (2 ms) and a locked database
fails at once (busy_timeout 0); either then runs again on a reader thread, where it may take
its time. In WAL mode readers never wait for writers, so a locked database is rare.

Writes go to one writer thread as a whole transaction (`BEGIN IMMEDIATE` ... `COMMIT`): one
hop per write instead of one per statement, and writers of this process queue there rather
than in SQLite's busy handler, which sleeps in growing steps.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from parlay.db.direct import Compiled, DirectDB, Row

T = TypeVar("T")
READER_THREADS = 4
CHECK_EVERY = 1000  # SQLite VM instructions between two looks at the clock


def _connect(path: str, *pragmas: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    return conn


class SyncConnection:
    """A writer thread's connection, inside its transaction."""

    __slots__ = ("db", "raw")

    def __init__(self, db: DirectDB, raw: sqlite3.Connection) -> None:
        self.db = db
        self.raw = raw

    def fetch(self, statement: Any, params: Mapping[str, Any]) -> list[Row]:
        compiled = self.db.compiled(statement)
        return compiled.rows(self.raw.execute(compiled.sql, compiled.arguments(params))
                             .fetchall())

    def execute_many(self, statement: Any, params: Sequence[Mapping[str, Any]]) -> None:
        compiled = self.db.compiled(statement)
        self.raw.executemany(compiled.sql, [compiled.arguments(p) for p in params])


class SqliteRunner:
    def __init__(self, path: str, budget: float) -> None:
        self._path = path
        self._budget = budget
        self._deadline = 0.0
        self._inline = _connect(path, "query_only=ON", "busy_timeout=0")
        self._inline.set_progress_handler(self._over_budget, CHECK_EVERY)
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="sqlite-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self.deferred = 0  # reads handed to a thread (over budget or locked)

    def _over_budget(self) -> bool:
        return time.perf_counter() > self._deadline

    async def fetch(self, compiled: Compiled, params: Mapping[str, Any]) -> list[Row]:
        if compiled.is_select:
            self._deadline = time.perf_counter() + self._budget
            try:
                rows = self._inline.execute(compiled.sql, compiled.arguments(params)).fetchall()
            except sqlite3.OperationalError:  # over budget or locked: the thread will tell
                self.deferred += 1
            else:
                return compiled.rows(rows)
        return await self._in(self._readers, self._fetch, compiled, params)

    def _fetch(self, compiled: Compiled, params: Mapping[str, Any]) -> list[Row]:
        raw = self._thread_connection()
        return compiled.rows(raw.execute(compiled.sql, compiled.arguments(params)).fetchall())

    async def write(self, db: DirectDB, work: Callable[[SyncConnection], T]) -> T:
        """Run `work` in one IMMEDIATE transaction on the writer thread; committed unless
        it raises."""
        return await self._in(self._writer, self._transaction, db, work)

    def _transaction(self, db: DirectDB, work: Callable[[SyncConnection], T]) -> T:
        raw = self._thread_connection()
        raw.execute("BEGIN IMMEDIATE")
        try:
            result = work(SyncConnection(db, raw))
        except BaseException:
            raw.rollback()
            raise
        raw.commit()
        return result

    def _thread_connection(self) -> sqlite3.Connection:
        raw = getattr(self._local, "conn", None)
        if raw is None:
            raw = _connect(self._path, "foreign_keys=ON", "busy_timeout=30000",
                           "synchronous=NORMAL")
            self._local.conn = raw
            self._opened.append(raw)
        return raw

    @staticmethod
    async def _in(executor: ThreadPoolExecutor, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, call, *args)

    async def aclose(self) -> None:
        for executor in (self._readers, self._writer):
            await asyncio.to_thread(executor.shutdown)
        for raw in (*self._opened, self._inline):
            raw.close()
