"""Upstream faults under concurrency: slow, failing and cut streams mixed with healthy ones.
Each request gets its own right answer, and the gateway is healthy afterwards."""

from __future__ import annotations

import asyncio
import logging

import httpx
import orjson
import pytest

from support.asserts import assert_error

CASES = {
    "ok": ("hello", False),
    "slow": ("!sleep 0.3", False),
    "fails": ("!status 500", False),
    "cut": ("!cut 2", True),
    "stream": ("hello there", True),
}


async def _call(client: httpx.AsyncClient, headers: dict, prompt: str, stream: bool) -> httpx.Response:
    body = {"model": "mock-small", "messages": [{"role": "user", "content": prompt}],
            "stream": stream}
    return await client.post("/v1/chat/completions", headers=headers, json=body)


def _events(response: httpx.Response) -> list[dict]:
    return [orjson.loads(line[6:]) for line in response.text.split("\n\n")
            if line.startswith("data: {")]


async def test_mixed_faults_under_concurrency(client: httpx.AsyncClient, guest: dict) -> None:
    plan = [name for name in CASES for _ in range(8)]
    responses = await asyncio.gather(*[_call(client, guest, *CASES[name]) for name in plan])
    for name, response in zip(plan, responses, strict=True):
        if name in ("ok", "slow"):
            assert response.status_code == 200
            assert response.json()["choices"][0]["message"]["content"].startswith("echo:")
        elif name == "fails":
            assert_error(response, 502, "upstream_error")
        elif name == "cut":
            assert response.status_code == 200
            events = _events(response)
            assert "error" in events[-1] and "data: [DONE]" not in response.text
        else:
            assert response.text.rstrip().endswith("data: [DONE]")
    after = await asyncio.gather(*[_call(client, guest, "still fine", False) for _ in range(16)])
    assert [r.status_code for r in after] == [200] * 16


async def test_keys_and_tokens_never_reach_the_logs(client: httpx.AsyncClient, guest: dict,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = (await client.post("/llm/auth/api-keys", headers=guest)).json()["data"]["key"]
    await client.get("/llm/auth/me", headers={"X-API-Key": key})
    await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {key}x"})
    await _call(client, {"Authorization": f"Bearer {key}"}, "!status 500", False)
    await client.get("/v1/nowhere", headers=guest)
    logged = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    assert logged, "the requests above must have been logged"
    secrets_seen = [s for s in (key, guest["Authorization"].split()[1], "mock-key") if s in logged]
    assert not secrets_seen
