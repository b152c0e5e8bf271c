"""Apply Alembic migrations programmatically (start-up, `parlay migrate`, tests)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Every resource's migration branch; `heads` applies all of them.
TARGET = "heads"


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several workers may start at once: one migrates, the others wait.
        connection.execute(text("SELECT pg_advisory_xact_lock(724011)"))
    command.upgrade(_config(connection), TARGET)


async def upgrade(engine: AsyncEngine) -> None:
    with _sqlite_file_lock(engine):
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)


@contextlib.contextmanager
def _sqlite_file_lock(engine: AsyncEngine) -> Iterator[None]:
    """SQLite has no advisory locks: processes starting together take turns via a lock file."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
