"""Shared fixtures: the app on SQLite and on PostgreSQL, clients, users, a loopback upstream.

Every test that takes `client` runs once per backend (`--db sqlite|postgres|both`, default
both). The PostgreSQL run uses a throwaway database created for this test session.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from parlay.app import create_app
from parlay.config import Settings
from support.mock_upstream import MockUpstream, running_mock

ADMIN_KEY = "test-admin-key-" + secrets.token_hex(8)
PG_ADMIN_DSN = os.environ.get("PARLAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", default="both", choices=["sqlite", "postgres", "both"],
                     help="which database backends to run the suite against")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgres"] if choice == "both" else [choice]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
async def mock_upstream() -> AsyncIterator[MockUpstream]:
    async with running_mock(api_key="mock-key") as mock:
        yield mock


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with throwaway_database(backend, tmp_path_factory) as url:
        yield url


@contextlib.asynccontextmanager
async def throwaway_database(backend: str, tmp_path_factory: pytest.TempPathFactory):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/parlay.db"
        return
    name = f"parlay_test_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": "test-secret-" + "x" * 32,
        "secret_key": "test-secret-key-" + "y" * 32,
        "admin_api_key": ADMIN_KEY,
        "local_model": "off",
        "rate_limits": "off",
        "log_level": "warning",
        "public_url": "http://parlay.test",
    }
    values.update(overrides)
    return IsolatedSettings(**values)


class IsolatedSettings(Settings):
    """Settings from arguments only: tests must not depend on the caller's environment."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_sources):  # type: ignore[override]
        return (init_settings,)


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def app(database_url: str, mock_upstream: MockUpstream) -> AsyncIterator[Any]:
    settings = make_settings(database_url, openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key")
    async with running_app(settings) as app:
        yield app


def asgi_client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


async def new_guest(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post("/llm/auth/guest-login")
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def guest(client: httpx.AsyncClient) -> dict[str, str]:
    """Headers of a fresh guest user (each test gets its own user)."""
    return await new_guest(client)


@pytest.fixture
async def other_guest(client: httpx.AsyncClient) -> dict[str, str]:
    return await new_guest(client)


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
