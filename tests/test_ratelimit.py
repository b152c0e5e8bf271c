"""Rate limits: per IP on anonymous routes, per user on the API, shared across processes via Redis."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest

from conftest import asgi_client, make_settings, running_app
from parlay.ratelimit_spec import Limit, parse_limits
from support.asserts import assert_error
from support.server import ParlayProcess


def test_parse_limits() -> None:
    assert parse_limits("chat=120/min, auth=10/minute,api=5/s") == {
        "chat": Limit(120, 60), "auth": Limit(10, 60), "api": Limit(5, 1)}
    assert parse_limits("off") == {}
    for bad in ("chat=0/min", "chat=10/fortnight", "nope=1/min", "chat"):
        with pytest.raises(ValueError):
            parse_limits(bad)


async def test_auth_routes_are_limited_per_ip(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", rate_limits="auth=3/min")
    async with running_app(settings) as app, asgi_client(app) as client:
        first = await client.post("/llm/auth/guest-login")
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.headers["x-ratelimit-remaining"] == "2"
        for _ in range(2):
            assert (await client.post("/llm/auth/guest-login")).status_code == 201
        refused = await client.post("/llm/auth/guest-login")
        assert_error(refused, 429, "rate_limited")
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # Other groups are not affected.
        assert (await client.get("/healthz")).status_code == 200


async def test_api_routes_are_limited_per_user(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", rate_limits="api=2/min")
    async with running_app(settings) as app, asgi_client(app) as client:
        alice = {"Authorization": "Bearer " + (await client.post("/llm/auth/guest-login")).json()["access_token"]}
        bob = {"Authorization": "Bearer " + (await client.post("/llm/auth/guest-login")).json()["access_token"]}
        assert (await client.get("/llm/auth/api-keys", headers=alice)).status_code == 200
        assert (await client.get("/llm/auth/api-keys", headers=alice)).status_code == 200
        assert_error(await client.get("/llm/auth/api-keys", headers=alice), 429)
        assert (await client.get("/llm/auth/api-keys", headers=bob)).status_code == 200


async def test_limit_is_shared_by_two_processes_through_redis(tmp_path: Path,
                                                              redis_url: str) -> None:
    import redis.asyncio as aioredis

    probe = aioredis.from_url(redis_url)
    try:
        await probe.ping()
    except Exception as exc:
        pytest.fail(f"Redis is not reachable at {redis_url}: {exc}")
    finally:
        await probe.aclose()
    env = {"PARLAY_DATABASE_URL": f"sqlite:///{tmp_path}/shared.db",
           "PARLAY_REDIS_URL": redis_url, "PARLAY_REDIS_PREFIX": "t" + secrets.token_hex(6),
           "PARLAY_RATE_LIMITS": "auth=6/min", "OPENAI_BASE_URL": ""}
    servers = [ParlayProcess(env), ParlayProcess(env)]
    try:
        for server in servers:
            await asyncio.to_thread(server.start)
        async with httpx.AsyncClient() as client:
            statuses = [(await client.post(servers[i % 2].url + "/llm/auth/guest-login")).status_code
                        for i in range(8)]
        assert statuses[:6] == [201] * 6, statuses
        assert statuses[6:] == [429, 429], statuses
    finally:
        for server in servers:
            await asyncio.to_thread(server.stop)


async def test_tokens_per_window_budget_for_chat(tmp_path: Path, mock_upstream) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", rate_limits="chat_tokens=12/min",
                             openai_base_url=mock_upstream.url, openai_api_key="mock-key")
    body = {"model": "mock-small", "messages": [{"role": "user", "content": "one two three"}]}
    async with running_app(settings) as app, asgi_client(app) as client:
        headers = {"Authorization": "Bearer " + (await client.post("/llm/auth/guest-login")).json()["access_token"]}
        first = await client.post("/v1/chat/completions", headers=headers, json=body)
        assert first.status_code == 200
        used = first.json()["usage"]["total_tokens"]
        assert used == 7  # the mock counts words: 3 in, "echo: one two three" = 4 out
        await app.state.ctx.limiter.drain()  # spends are counted just off the reply path
        assert (await client.post("/v1/chat/completions", headers=headers, json=body)).status_code == 200
        await app.state.ctx.limiter.drain()
        refused = await client.post("/v1/chat/completions", headers=headers, json={**body, "stream": True})
        assert_error(refused, 429, "token_rate_limited")
        assert int(refused.headers["retry-after"]) > 0
        other = {"Authorization": "Bearer " + (await client.post("/llm/auth/guest-login")).json()["access_token"]}
        assert (await client.post("/v1/chat/completions", headers=other, json=body)).status_code == 200
