"""Shared fixtures: the app on SQLite and on PostgreSQL, clients, users, a loopback upstream.

Every test that takes `client` runs once per backend (`--db sqlite|postgres|both`, default
both). The PostgreSQL run uses a throwaway database created for this test session, on the
server at PARLAY_TEST_PG, or on a private one started for the session when nothing answers
there (the same for Redis and PARLAY_TEST_REDIS; see support/services.py).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from parlay.app import create_app
from parlay.config import Settings
from support import services
from support.mock_upstream import MockUpstream, running_mock

ADMIN_KEY = "test-admin-key-" + secrets.token_hex(8)
_PRIVATE_SERVICES: list[str] = []  # what the session started itself, for the summary


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _PRIVATE_SERVICES:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """A PostgreSQL superuser DSN: PARLAY_TEST_PG's server, or a private one."""
    yield from _configured_or_private("PARLAY_TEST_PG", services.DEFAULT_PG, 5432,
                                      services.private_postgres, "PostgreSQL")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """PARLAY_TEST_REDIS's server, or a private one."""
    yield from _configured_or_private("PARLAY_TEST_REDIS", services.DEFAULT_REDIS, 6379,
                                      services.PrivateRedis, "Redis")


def _configured_or_private(variable: str, default: str, port: int,
                           start: Callable[[], services.PrivateServer], name: str
                           ) -> Iterator[str]:
    configured = os.environ.get(variable, default)
    if services.answers(configured, port):
        yield configured
        return
    server = start()
    _PRIVATE_SERVICES.append(f"private {name} on port {server.port} in {server.dir} "
                             f"(nothing answered at {configured}), removed")
    try:
        yield server.url
    finally:
        server.destroy()


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory,
                       request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/parlay.db"
        return
    # Only a PostgreSQL run needs the server (and maybe starts it).
    async with throwaway_database(request.getfixturevalue("pg_admin_dsn")) as url:
        yield url


@contextlib.asynccontextmanager
async def throwaway_database(admin_dsn: str) -> AsyncIterator[str]:
    name = f"parlay_test_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield admin_dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(admin_dsn)
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


@pytest.fixture(scope="session")
async def search_url() -> AsyncIterator[str]:
    """A SearXNG-shaped search API on loopback (tests/support/tool_servers.py)."""
    from support.tool_servers import SearchApis, serving

    async with serving(SearchApis().app()) as url:
        yield url


@pytest.fixture(scope="module")
async def tools_live(database_url: str, mock_upstream: MockUpstream,
                     search_url: str) -> AsyncIterator[Any]:
    """A live Parlay (uvicorn on a socket) whose web_search uses `search_url`."""
    from support.live import tools_parlay

    async with tools_parlay(make_settings, database_url, mock_upstream, search_url) as served:
        yield served


@pytest.fixture
async def tool_user(tools_live: Any) -> AsyncIterator[Any]:
    """A new guest of `tools_live` with both tool switches on (support.live.guest_of)."""
    from support.live import guest_of

    async with guest_of(tools_live, {"Authorization": f"Bearer {ADMIN_KEY}"}) as user:
        yield user
