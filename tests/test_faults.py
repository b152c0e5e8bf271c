"""Faults survived: the database going away and coming back, with nothing half-written."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from conftest import asgi_client, make_settings, running_app
from support import private_pg
from support.asserts import assert_error


@pytest.fixture
def pg():
    server = private_pg.PrivatePostgres().init()
    server.start()
    yield server
    server.destroy()


async def _create_key(client: httpx.AsyncClient, headers: dict, name: str) -> httpx.Response:
    return await client.post("/llm/auth/api-keys", headers=headers, json={"name": name})


async def test_postgres_restart_gives_503_then_recovers(pg) -> None:
    settings = make_settings(pg.url)
    async with running_app(settings) as app, asgi_client(app) as client:
        token = (await client.post("/llm/auth/guest-login")).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = [(await _create_key(client, headers, f"before-{i}")).status_code for i in range(3)]
        assert created == [201] * 3

        await asyncio.to_thread(pg.stop, "immediate")
        ready = await client.get("/readyz")
        assert_error(ready, 503, "database_unavailable")
        during = await _create_key(client, headers, "during")
        assert_error(during, 503, "database_unavailable")
        assert during.headers["retry-after"] == "1"
        assert_error(await client.post("/llm/auth/guest-login"), 503, "database_unavailable")

        await asyncio.to_thread(pg.start)
        # No restart of Parlay: the pool notices the new server by itself.
        for _ in range(50):
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await client.get("/readyz")).status_code == 200
        after = await _create_key(client, headers, "after")
        assert after.status_code == 201, after.text
        names = sorted(k["name"] for k in (await client.get("/llm/auth/api-keys", headers=headers)).json()["data"])
        # Everything acknowledged is there; the request refused during the outage left nothing.
        assert names == ["after", "before-0", "before-1", "before-2"]
