"""SQL for stored responses: one row per response (its items are JSON arrays on it), so a
store is one statement; the previous_response_id chain is one recursive query.

Writes made while a client waits (store, finish, heartbeat) run straight on the driver
(`db/direct.py`): through an AsyncSession each cost SQLAlchemy's session and, on SQLite, a
thread hop per statement (BEGIN, INSERT, COMMIT) — about 1.5 ms added to every stored
response; on the driver it is one hop to the writer thread (SQLite) or one autocommitted
statement (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import UTCDateTime, utcnow
from parlay.db.direct import DirectDB, SyncConnection
from parlay.db.models.responses import StoredResponse

_TABLE = StoredResponse.__table__
# A stored response's columns, all given at insert; those a finished stream writes.
STORED_COLUMNS = ("id", "user_id", "previous_response_id", "conversation_id", "model", "status",
                  "instructions", "params", "input_items", "output", "usage", "error",
                  "incomplete_details", "created_at", "updated_at", "completed_at")
FINISHED_COLUMNS = ("status", "model", "output", "usage", "error", "incomplete_details",
                    "completed_at")


def _bound(name: str, prefix: str = "") -> Any:
    return bindparam(prefix + name, type_=_TABLE.c[name].type)


_INSERT = insert(_TABLE).values(**{name: _bound(name) for name in STORED_COLUMNS})
_FINALIZE = (update(_TABLE).where(_TABLE.c.id == bindparam("response_id"))
             .values(updated_at=bindparam("now", type_=UTCDateTime()),
                     **{name: _bound(name, "new_") for name in FINISHED_COLUMNS})
             .returning(_TABLE.c.id))
_TOUCH = (update(_TABLE)
          .where(_TABLE.c.id == bindparam("response_id"), _TABLE.c.status == "in_progress")
          .values(updated_at=bindparam("now", type_=UTCDateTime()))
          .returning(_TABLE.c.id))


async def store(db: DirectDB, values: dict[str, Any]) -> None:
    """Insert a response (every STORED_COLUMNS value given), committed."""
    await _write(db, _INSERT, values)


async def finish(db: DirectDB, response_id: str, values: dict[str, Any]) -> bool:
    """Write a streamed response's end state (FINISHED_COLUMNS); False if it was deleted
    meanwhile."""
    params = {"response_id": response_id, "now": utcnow(),
              **{f"new_{name}": values[name] for name in FINISHED_COLUMNS}}
    return bool(await _write(db, _FINALIZE, params))


async def keep_alive(db: DirectDB, response_id: str) -> None:
    """A live stream's heartbeat: keeps the crash sweep off it."""
    await _write(db, _TOUCH, {"response_id": response_id, "now": utcnow()})


async def _write(db: DirectDB, statement: Any, params: dict[str, Any]) -> list[Any]:
    if not db.is_sqlite:
        return await db.fetch(statement, params)  # one autocommitted statement

    def run(conn: SyncConnection) -> list[Any]:
        return conn.fetch(statement, params)
    return await db.write(run)



async def get_owned(session: AsyncSession, user_id: str, response_id: str,
                    ) -> StoredResponse | None:
    return await session.scalar(
        select(StoredResponse).where(StoredResponse.id == response_id,
                                     StoredResponse.user_id == user_id))


async def chain(session: AsyncSession, user_id: str, response_id: str, *,
                max_depth: int) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(input items, output items) of a response and of up to `max_depth` responses before
    it (previous_response_id), oldest first; a deleted link ends the chain."""
    links = (select(StoredResponse.id, StoredResponse.previous_response_id,
                    literal(0).label("depth"))
             .where(StoredResponse.id == response_id, StoredResponse.user_id == user_id)
             .cte("chain", recursive=True))
    earlier = (select(StoredResponse.id, StoredResponse.previous_response_id,
                      (links.c.depth + 1).label("depth"))
               .join(links, StoredResponse.id == links.c.previous_response_id)
               .where(StoredResponse.user_id == user_id, links.c.depth < max_depth))
    links = links.union_all(earlier)
    rows = await session.execute(
        select(StoredResponse.input_items, StoredResponse.output)
        .join(links, StoredResponse.id == links.c.id)
        .order_by(links.c.depth.desc()))
    return [(list(row.input_items), list(row.output)) for row in rows]




async def delete_owned(session: AsyncSession, user_id: str, response_id: str) -> bool:
    result = await session.execute(
        delete(StoredResponse).where(StoredResponse.id == response_id,
                                     StoredResponse.user_id == user_id)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


async def mark_stale_in_progress_incomplete(session: AsyncSession, *, older_than: timedelta,
                                            details: dict[str, Any]) -> int:
    """Responses a crash left `in_progress` become `incomplete` (the caller commits)."""
    cutoff = utcnow() - older_than
    result = await session.execute(
        update(StoredResponse)
        .where(StoredResponse.status == "in_progress", StoredResponse.updated_at < cutoff)
        .values(status="incomplete", incomplete_details=details, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)
