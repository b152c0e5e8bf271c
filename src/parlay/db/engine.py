"""Async engine and session factory for SQLite (WAL) and PostgreSQL from one URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(async_url: str, *, echo: bool = False) -> AsyncEngine:
    if async_url.startswith("sqlite"):
        return _sqlite_engine(async_url, echo)
    return create_async_engine(
        async_url,
        echo=echo,
        # Hot reads and store-only writes use db/direct.py's own pool (10 more per worker);
        # this one serves everything else. PostgreSQL's default is 100 connections in all.
        pool_size=5,
        max_overflow=10,
        # No pre-ping: it costs a round trip on every checkout. A connection that died (server
        # restart) fails its request with 503 and makes the pool drop every older connection.
        pool_pre_ping=False,
        pool_recycle=1800,
    )


def _sqlite_engine(async_url: str, echo: bool) -> AsyncEngine:
    engine = create_async_engine(async_url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
