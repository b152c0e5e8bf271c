"""`parlay serve --workers 2` on SQLite (WAL) and PostgreSQL: concurrent writes from two
processes all succeed and all land."""

from __future__ import annotations

import asyncio

import httpx

from support.server import ParlayProcess


async def test_two_workers_share_one_database(database_url: str) -> None:
    server = await asyncio.to_thread(ParlayProcess({"PARLAY_DATABASE_URL": database_url},
                                                   workers=2).start)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async def one_user() -> tuple[dict, int]:
                tokens = (await client.post("/llm/auth/guest-login")).json()
                headers = {"Authorization": f"Bearer {tokens['access_token']}"}
                statuses = await asyncio.gather(*[
                    client.post("/llm/auth/api-keys", headers=headers, json={"name": f"k{i}"})
                    for i in range(5)])
                assert [s.status_code for s in statuses] == [201] * 5, [s.text for s in statuses]
                return headers, 5

            users = await asyncio.gather(*[one_user() for _ in range(20)])
            for headers, expected in users:
                keys = (await client.get("/llm/auth/api-keys", headers=headers)).json()["data"]
                assert len(keys) == expected
    finally:
        await asyncio.to_thread(server.stop)
