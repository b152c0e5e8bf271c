"""A provider's connection cap: set from OPENAI_BASE_URL's settings, the providers file or the
admin API; at the cap a request waits `pool_timeout` for a free connection, then gets 503
`upstream_busy` with Retry-After (never 502), and the provider stays available."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from conftest import ADMIN_KEY, make_settings, new_guest, running_app
from support.asserts import assert_error
from support.mock_upstream import running_mock, serve_asgi

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _ask(model: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


@contextlib.asynccontextmanager
async def _served(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Parlay under uvicorn (streams must really stay open) and a client for it."""
    async with running_app(make_settings(database_url, **overrides)) as app, \
            serve_asgi(app, lifespan="off") as url, \
            httpx.AsyncClient(base_url=url, timeout=30) as http:
        http.headers.update(await new_guest(http))
        yield http


class _Hanging:
    """Streams held open: each keeps one upstream connection busy until released."""

    def __init__(self, http: httpx.AsyncClient, model: str) -> None:
        self._http, self._model = http, model
        self._open: list[contextlib.AsyncExitStack] = []

    async def open(self, count: int) -> None:
        for _ in range(count):
            stack = contextlib.AsyncExitStack()
            response = await stack.enter_async_context(self._http.stream(
                "POST", "/v1/chat/completions", json=_ask(self._model, "!hang", stream=True)))
            assert response.status_code == 200, await response.aread()
            # Keep the iterator: leaving an `async for` over it would close the response.
            chunks = response.aiter_bytes()
            assert (await anext(chunks)).startswith(b"data: {")
            stack.push_async_callback(chunks.aclose)
            self._open.append(stack)

    async def release_one(self) -> None:
        await self._open.pop().aclose()

    async def aclose(self) -> None:
        while self._open:
            await self.release_one()


@contextlib.asynccontextmanager
async def _hanging(http: httpx.AsyncClient, model: str, count: int) -> AsyncIterator[_Hanging]:
    held = _Hanging(http, model)
    try:
        await held.open(count)
        yield held
    finally:
        await held.aclose()


async def _assert_busy(http: httpx.AsyncClient, model: str, pool_timeout: float) -> None:
    for stream in (True, False):
        started = time.monotonic()
        response = await http.post("/v1/chat/completions",
                                   json=_ask(model, "one too many", stream=stream))
        waited = time.monotonic() - started
        assert_error(response, 503, "upstream_busy")
        assert response.headers["retry-after"] == "1"
        assert pool_timeout <= waited < pool_timeout + 5, waited


async def _assert_answers(http: httpx.AsyncClient, model: str) -> None:
    response = await http.post("/v1/chat/completions", json=_ask(model, "hello"))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: hello"


async def _assert_available(http: httpx.AsyncClient, name: str, cap: int) -> None:
    provider = (await http.get(f"/v1/admin/providers/{name}", headers=ADMIN)).json()["data"]
    assert provider["available"] is True, provider  # full is not down
    assert provider["max_connections"] == cap


async def _check_cap(http: httpx.AsyncClient, model: str, provider: str, cap: int,
                     pool_timeout: float) -> None:
    async with _hanging(http, model, cap) as held:
        await _assert_busy(http, model, pool_timeout)
        await _assert_available(http, provider, cap)
        await held.release_one()
        await _assert_answers(http, model)


async def test_env_provider_cap_gives_503_upstream_busy(database_url: str) -> None:
    async with running_mock(api_key="k") as mock, _served(
            database_url, openai_base_url=mock.url, openai_api_key="k",
            upstream_max_connections=2, upstream_pool_timeout=0.3) as http:
        await _check_cap(http, "mock-small", "openai", cap=2, pool_timeout=0.3)


async def test_providers_file_cap(database_url: str, tmp_path: Path) -> None:
    async with running_mock(models=["filed"]) as mock:
        path = tmp_path / "providers.yaml"
        path.write_text(yaml.safe_dump({"providers": [
            {"name": "filed", "base_url": mock.url, "max_connections": 2, "pool_timeout": 0.2}]}))
        async with _served(database_url, providers_file=path) as http:
            await _check_cap(http, "filed", "filed", cap=2, pool_timeout=0.2)


async def test_admin_cap_create_and_patch(database_url: str) -> None:
    async with running_mock(models=["admined"]) as mock, _served(database_url) as http:
        created = await http.post("/v1/admin/providers", headers=ADMIN, json={
            "name": "admined", "base_url": mock.url, "max_connections": 2, "pool_timeout": 0.2})
        assert created.status_code == 201, created.text
        assert created.json()["data"]["pool_timeout"] == 0.2
        await _check_cap(http, "admined", "admined", cap=2, pool_timeout=0.2)
        patched = await http.patch("/v1/admin/providers/admined", headers=ADMIN,
                                   json={"max_connections": 3})
        assert patched.status_code == 200, patched.text
        await _check_cap(http, "admined", "admined", cap=3, pool_timeout=0.2)


async def test_a_request_at_the_cap_waits_for_a_free_connection(database_url: str) -> None:
    async with running_mock(api_key="k") as mock, _served(
            database_url, openai_base_url=mock.url, openai_api_key="k",
            upstream_max_connections=1, upstream_pool_timeout=10) as http, \
            _hanging(http, "mock-small", 1) as held:
        waiting = asyncio.create_task(http.post("/v1/chat/completions",
                                                json=_ask("mock-small", "hello")))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await held.release_one()
        response = await asyncio.wait_for(waiting, 5)
        assert response.status_code == 200, response.text


async def test_cap_is_validated(client: httpx.AsyncClient, admin: dict) -> None:
    for bad in ({"max_connections": 0}, {"max_connections": 100_001}, {"pool_timeout": -1},
                {"pool_timeout": 601}):
        response = await client.post("/v1/admin/providers", headers=admin, json={
            "name": "never", "base_url": "http://127.0.0.1:9/v1", **bad})
        assert_error(response, 422)
