"""A database that refuses connections (too many clients, shutting down) is a 503 the client
may retry, on the ORM path and the driver path alike; a broken statement stays a 500."""

from __future__ import annotations

import secrets

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from parlay.db.availability import is_unavailable


@pytest.fixture
async def limited_role(pg_admin_dsn: str):
    """A login role allowed no connections at all (superusers ignore such limits)."""
    role = f"parlay_limited_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        yield pg_admin_dsn.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_too_many_connections_is_unavailable_on_the_driver(limited_role: str) -> None:
    with pytest.raises(asyncpg.PostgresError) as refused:
        await asyncpg.connect(limited_role)
    assert refused.value.sqlstate == "53300"
    assert is_unavailable(refused.value)


async def test_too_many_connections_is_unavailable_through_sqlalchemy(limited_role: str) -> None:
    engine = create_async_engine(limited_role.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        with pytest.raises(Exception) as refused:
            async with engine.connect():
                pass
        assert is_unavailable(refused.value)
    finally:
        await engine.dispose()


async def test_a_broken_statement_is_not_unavailable(pg_admin_dsn: str) -> None:
    engine = create_async_engine(pg_admin_dsn.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        with pytest.raises(Exception) as broken:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM no_such_table_here"))
        assert not is_unavailable(broken.value)
    finally:
        await engine.dispose()
