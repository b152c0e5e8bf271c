"""Hot statements run straight on the database driver: no ORM, no AsyncSession, no
SQLAlchemy pool.

The API's hottest requests (a page of items or conversations, the settings, the caller's own
user, a message stored without a reply) run one or two small indexed statements. Through an
AsyncSession each statement cost 0.2-0.3 ms of CPU in SQLAlchemy (session, pool checkout,
greenlet hops, result processing) against about 0.05 ms in the driver itself. The statements
are still SQLAlchemy Core, built in `db/repositories` and compiled here once per dialect;
values are converted the way the models' column types do (UTC datetimes, JSON, booleans).

PostgreSQL: a small pool of asyncpg connections; statements run in autocommit, prepared and
cached per connection by asyncpg. SQLite: `db/direct_sqlite.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Boolean
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import JSON, TypeEngine

from parlay.db.availability import is_unavailable
from parlay.db.base import UTCDateTime
from parlay.db.direct_sqlite import SqliteRunner, SyncConnection
from parlay.errors import ServiceUnavailable

log = logging.getLogger("parlay.db")
POOL_SIZE = 10  # PostgreSQL connections per worker, besides SQLAlchemy's pool
Row = Sequence[Any]
Convert = Callable[[Any], Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    binds: tuple[tuple[str, Any, Convert | None], ...]  # name, default value, to the driver
    results: tuple[tuple[int, Convert], ...]  # column index, from the driver
    is_select: bool

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, default, convert in self.binds:
            value = params.get(name, default)
            args.append(value if convert is None or value is None else convert(value))
        return args

    def rows(self, rows: Sequence[Row]) -> list[Row]:
        """The driver's rows with values converted as the column types say (NULL stays)."""
        if not self.results:
            return rows if isinstance(rows, list) else list(rows)
        converted = []
        for row in rows:
            values = list(row)
            for index, convert in self.results:
                value = values[index]
                if value is not None:
                    values[index] = convert(value)
            converted.append(values)
        return converted


def _sqlite_datetime_in(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite storage format


def _sqlite_datetime_out(value: str) -> datetime:
    return datetime.fromisoformat(value + "+00:00")  # stored as UTC without an offset


def _json_in(value: Any) -> str:
    return orjson.dumps(value).decode()


def _converters(dialect: str, type_: TypeEngine[Any]) -> tuple[Convert | None, Convert | None]:
    """(to the driver, from the driver) for a column type; asyncpg does the rest itself."""
    if dialect != "sqlite":
        return None, None
    if isinstance(type_, UTCDateTime):
        return _sqlite_datetime_in, _sqlite_datetime_out
    if isinstance(type_, JSON):
        return _json_in, orjson.loads
    if isinstance(type_, Boolean):
        return None, bool
    return None, None


def compile_statement(statement: ClauseElement, dialect: Any) -> Compiled:
    compiled = statement.compile(dialect=dialect)
    binds = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        binds.append((name, bind.effective_value, _converters(dialect.name, bind.type)[0]))
    results = []
    for index, column in enumerate(getattr(statement, "exported_columns", ())):
        convert = _converters(dialect.name, column.type)[1]
        if convert is not None:
            results.append((index, convert))
    is_select = bool(getattr(statement, "is_select", False))
    return Compiled(str(compiled), tuple(binds), tuple(results), is_select)


class DirectDB:
    """The compiled statements and the driver connections that run them."""

    def __init__(self, url: str | URL, dialect: Any, *, size: int = POOL_SIZE,
                 inline_budget: float = 0.002) -> None:
        self.url = make_url(url)
        self.dialect = dialect
        self.is_sqlite = dialect.name == "sqlite"
        self._compiled: dict[int, tuple[ClauseElement, Compiled]] = {}
        self._sqlite: SqliteRunner | None = None
        if self.is_sqlite:
            if self.url.database in (None, "", ":memory:"):
                raise ValueError("an in-memory SQLite database cannot be shared by "
                                 "connections; use a file (sqlite:///path)")
            self._sqlite = SqliteRunner(self.url.database, inline_budget)
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    def compiled(self, statement: ClauseElement) -> Compiled:
        # Statements are long-lived (built once per shape); the entry keeps its id valid.
        found = self._compiled.get(id(statement))
        if found is None:
            found = (statement, compile_statement(statement, self.dialect))
            self._compiled[id(statement)] = found
        return found[1]

    @property
    def sqlite(self) -> SqliteRunner | None:
        return self._sqlite

    async def fetch(self, statement: ClauseElement, params: Mapping[str, Any]) -> list[Row]:
        compiled = self.compiled(statement)
        try:
            if self._sqlite is not None:
                return await self._sqlite.fetch(compiled, params)
            return await self._pg_fetch(compiled, params)
        except Exception as exc:
            if is_unavailable(exc):
                raise _as_unavailable(exc) from exc
            raise

    async def fetchrow(self, statement: ClauseElement, params: Mapping[str, Any]) -> Row | None:
        rows = await self.fetch(statement, params)
        return rows[0] if rows else None

    async def write(self, work: Callable[[SyncConnection], T]) -> T:
        """SQLite: run `work` in one IMMEDIATE transaction on the writer thread."""
        assert self._sqlite is not None, "PostgreSQL writes are single statements (fetch)"
        try:
            return await self._sqlite.write(self, work)
        except Exception as exc:
            if is_unavailable(exc):
                raise _as_unavailable(exc) from exc
            raise

    async def _pg_fetch(self, compiled: Compiled, params: Mapping[str, Any]) -> list[Row]:
        await self._slots.acquire()
        raw = None
        try:
            raw = self._idle.pop() if self._idle else await self._pg_connect()
            rows = await raw.fetch(compiled.sql, *compiled.arguments(params))
        except BaseException as exc:
            # A statement cut off midway (cancelled) or a lost connection leaves the
            # connection unusable; an error the server reported (a constraint) does not.
            if raw is not None and (is_unavailable(exc) or not isinstance(exc, Exception)):
                self._discard(raw, exc)
                raw = None
            raise
        finally:
            if raw is not None:
                self._idle.append(raw)
            self._slots.release()
        return compiled.rows(rows)

    async def _pg_connect(self) -> Any:
        import asyncpg

        url = self.url.set(drivername="postgresql")
        conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=10)
        for kind in ("json", "jsonb"):
            await conn.set_type_codec(kind, encoder=_json_in, decoder=orjson.loads,
                                      schema="pg_catalog")
        return conn

    def _discard(self, raw: Any, exc: BaseException) -> None:
        """Drop a connection that failed; after a lost connection, the idle ones too (a
        restarted server took them all)."""
        stale = [raw]
        if is_unavailable(exc):
            stale += self._idle
            self._idle = []
        for conn in stale:
            conn.terminate()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                await conn.close(timeout=2)
        if self._sqlite is not None:
            await self._sqlite.aclose()


def _as_unavailable(exc: BaseException) -> ServiceUnavailable:
    log.warning("database unavailable: %s", type(exc).__name__)
    return ServiceUnavailable("the database is unavailable; retry shortly",
                              code="database_unavailable", headers={"Retry-After": "1"})
