"""SIGKILL while replies are being written: after a restart every committed item is intact
and no reply is left `in_progress` (start-up marks orphans `incomplete`)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import httpx

from support.server import ParlayProcess, free_port

MOCK = Path(__file__).parent / "support" / "mock_upstream.py"


async def _hold_stream(client: httpx.AsyncClient, url: str, headers: dict, started: asyncio.Event):
    body = {"role": "user", "content": "!hang", "stream": True}
    with contextlib.suppress(httpx.HTTPError):
        async with client.stream("POST", url, headers=headers, json=body) as response:
            assert response.status_code == 201
            async for _ in response.aiter_bytes():
                started.set()


async def test_sigkill_mid_reply_loses_nothing_committed(database_url: str) -> None:
    mock_port = free_port()
    mock = subprocess.Popen([sys.executable, str(MOCK), "--port", str(mock_port)])  # noqa: ASYNC220
    env = {"PARLAY_DATABASE_URL": database_url, "PARLAY_STALE_REPLY_SECONDS": "1",
           "OPENAI_BASE_URL": f"http://127.0.0.1:{mock_port}/v1", "OPENAI_API_KEY": "x"}
    server = ParlayProcess(env)
    try:
        await asyncio.to_thread(server.start)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            token = (await client.post("/llm/auth/guest-login")).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            conv = (await client.post("/v1/conversations", headers=headers,
                                      json={"title": "crash", "model": "mock-small"})).json()["data"]
            items_url = f"/v1/conversations/{conv['id']}/items"
            for i in range(5):
                sent = await client.post(items_url, headers=headers,
                                         json={"role": "user", "content": f"hello {i}"})
                assert sent.status_code in (200, 201), sent.text
            started = [asyncio.Event() for _ in range(3)]
            holders = [asyncio.create_task(_hold_stream(client, items_url, headers, event))
                       for event in started]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 15)

            await asyncio.to_thread(server.kill)  # SIGKILL: no shutdown hook runs
            await asyncio.gather(*holders, return_exceptions=True)
            await asyncio.sleep(1.5)  # the orphans' last write is now older than the threshold
            await asyncio.to_thread(server.start)

            page = await client.get(items_url, headers=headers, params={"limit": 100})
            items = page.json()["data"]
        statuses = [item["status"] for item in items]
        assert "in_progress" not in statuses, statuses
        transcript = [(i["role"], i["content"], i["status"]) for i in items[:10]]
        expected = []
        for i in range(5):
            expected += [("user", f"hello {i}", "completed"),
                         ("assistant", f"echo: hello {i}", "completed")]
        assert transcript == expected
        hung = items[10:]
        assert [i["role"] for i in hung].count("user") == 3
        assert [i["status"] for i in hung if i["role"] == "assistant"] == ["incomplete"] * 3
    finally:
        await asyncio.to_thread(server.stop)
        mock.terminate()
        mock.wait(timeout=10)
