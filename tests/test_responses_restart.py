"""Stored responses survive a process restart (same database), and a stream cut short by a
SIGKILL is marked `incomplete` once the server is back (never left `in_progress`)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

from support.mock_upstream import MockUpstream
from support.server import ParlayProcess


async def _hold_stream(http: httpx.AsyncClient, headers: dict, started: asyncio.Future) -> None:
    body = {"model": "mock-small", "stream": True, "input": "!hang"}
    with contextlib.suppress(httpx.HTTPError):
        async with http.stream("POST", "/v1/responses", headers=headers, json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and not started.done():
                    started.set_result(json.loads(line[6:])["response"]["id"])


async def test_responses_survive_a_restart(database_url: str,
                                           mock_upstream: MockUpstream) -> None:
    env = {"PARLAY_DATABASE_URL": database_url, "PARLAY_STALE_REPLY_SECONDS": "1",
           "OPENAI_BASE_URL": mock_upstream.url, "OPENAI_API_KEY": "mock-key"}
    server = ParlayProcess(env)
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            token = (await http.post("/llm/auth/guest-login")).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            first = (await http.post("/v1/responses", headers=headers, json={
                "model": "mock-small", "input": "survive"})).json()
            assert first["status"] == "completed", first
            started: asyncio.Future = asyncio.get_running_loop().create_future()
            holder = asyncio.create_task(_hold_stream(http, headers, started))
            streaming_id = await asyncio.wait_for(started, 15)
            for _ in range(100):  # stored `in_progress` while it streams
                live = await http.get(f"/v1/responses/{streaming_id}", headers=headers)
                if live.status_code == 200:
                    break
                await asyncio.sleep(0.02)
            assert live.json()["status"] == "in_progress"
            await asyncio.to_thread(server.kill)  # no shutdown hooks, no flushing
            await holder

        server = ParlayProcess(env, port=server.port)
        await asyncio.to_thread(server.start)
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            again = (await http.get(f"/v1/responses/{first['id']}")).json()
            assert again["output"] == first["output"] and again["status"] == "completed"
            chained = (await http.post("/v1/responses", json={
                "input": "still there?", "previous_response_id": first["id"]})).json()
            assert chained["status"] == "completed", chained
            sent = mock_upstream.chat_requests()[-1].body
            assert [m["content"] for m in sent["messages"]] == [
                "survive", "echo: survive", "still there?"]
            for _ in range(100):
                cut = (await http.get(f"/v1/responses/{streaming_id}")).json()
                if cut["status"] != "in_progress":
                    break
                await asyncio.sleep(0.1)
            assert cut["status"] == "incomplete"
            assert cut["incomplete_details"]["cause"] == "interrupted"
    finally:
        await asyncio.to_thread(server.stop)
