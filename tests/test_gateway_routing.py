"""Routing across providers from a providers file: aliases, renames, retries, fallbacks,
timeouts, and a provider that is down at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
import yaml

from conftest import asgi_client, make_settings, new_guest, running_app
from parlay.config import ConfigError
from support.asserts import assert_error
from support.mock_upstream import MockUpstream, running_mock


@contextlib.asynccontextmanager
async def gateway_app(database_url: str, tmp_path: Path, providers_file: dict[str, Any] | None,
                      **overrides: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient, dict]]:
    if providers_file is not None:
        path = tmp_path / f"providers-{secrets.token_hex(3)}.yaml"
        path.write_text(yaml.safe_dump(providers_file))
        overrides["providers_file"] = path
    async with running_app(make_settings(database_url, **overrides)) as app, \
            asgi_client(app) as http:
        yield app, http, await new_guest(http)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ask(model: str, content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def test_models_route_to_their_provider_with_aliases_and_renames(
    database_url: str, tmp_path: Path, mock_upstream: MockUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECOND_PROVIDER_KEY", "second-key")
    async with running_mock(models=["other-a", "other-b"], api_key="second-key") as second:
        config = {
            "aliases": {"gpt-4": "mock-large"},
            "providers": [{
                "name": "second", "base_url": second.url, "api_key_env": "SECOND_PROVIDER_KEY",
                "models": [{"id": "renamed", "upstream_id": "other-a", "aliases": ["nick"],
                            "capabilities": ["chat", "browser"], "context_length": 4096}],
            }],
        }
        async with gateway_app(database_url, tmp_path, config, openai_base_url=mock_upstream.url,
                               openai_api_key="mock-key") as (_app, http, guest):
            marker = secrets.token_hex(4)
            for model in ("mock-small", "other-b", "renamed", "nick", "gpt-4"):
                response = await http.post("/v1/chat/completions", headers=guest,
                                           json=_ask(model, f"{model} {marker}"))
                assert response.status_code == 200, response.text
                assert response.json()["model"] == model
            first = [r.body["model"] for r in mock_upstream.chat_requests() if marker in str(r.body)]
            other = [r.body["model"] for r in second.chat_requests() if marker in str(r.body)]
            assert first == ["mock-small", "mock-large"]
            assert other == ["other-b", "other-a", "other-a"]
            assert {r.headers["authorization"] for r in second.chat_requests()} == {
                "Bearer second-key"}

            stream = await http.post("/v1/chat/completions", headers=guest,
                                     json=_ask("renamed", stream=True))
            chunks = [orjson.loads(b.removeprefix("data: ")) for b in stream.text.split("\n\n")
                      if b.startswith("data: {")]
            assert {c["model"] for c in chunks} == {"renamed"}

            catalog = (await http.get("/v1/models/catalogs", headers=guest)).json()["data"]
            by_id = {m["id"]: m for m in catalog}
            assert by_id["renamed"]["provider"] == "second"
            assert by_id["renamed"]["context_length"] == 4096
            assert by_id["other-b"]["available"] and by_id["mock-small"]["provider"] == "openai"
            browser = (await http.get("/v1/models/catalogs", headers=guest,
                                      params={"capability": "browser"})).json()["data"]
            assert [m["id"] for m in browser] == ["renamed"]
            assert_error(await http.post("/v1/chat/completions", headers=guest,
                                         json=_ask("other-a")), 404, "model_not_found")


async def test_retries_then_fallback_to_the_next_model(
    database_url: str, tmp_path: Path, mock_upstream: MockUpstream
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    async with running_mock(models=["flaky"]) as flaky:
        config = {"providers": [
            {"name": "dead", "base_url": dead, "connect_timeout": 0.5,
             "models": [{"id": "ghost", "fallbacks": ["mock-small"]}]},
            {"name": "flaky", "base_url": flaky.url, "retries": 2,
             "models": [{"id": "flaky", "fallbacks": ["ghost", "mock-large"]}]},
        ]}
        async with gateway_app(database_url, tmp_path, config, openai_base_url=mock_upstream.url,
                               openai_api_key="mock-key") as (_app, http, guest):
            answered = await http.post("/v1/chat/completions", headers=guest, json=_ask("ghost"))
            assert answered.status_code == 200, answered.text
            assert answered.json()["model"] == "mock-small"  # says who answered

            marker = secrets.token_hex(4)
            response = await http.post("/v1/chat/completions", headers=guest,
                                       json=_ask("flaky", f"!status 503 {marker}"))
            # flaky: 1 try + 2 retries; then ghost (down), then mock-large, which also fails.
            assert len([r for r in flaky.chat_requests() if marker in str(r.body)]) == 3
            assert [r.body["model"] for r in mock_upstream.chat_requests()
                    if marker in str(r.body)] == ["mock-large"]
            assert_error(response, 502, "upstream_error")


async def test_upstream_timeout_is_504(
    database_url: str, tmp_path: Path, mock_upstream: MockUpstream
) -> None:
    config = {"providers": [{"name": "slow", "base_url": mock_upstream.url,
                             "api_key": "mock-key", "timeout": 0.3, "discover": False,
                             "models": ["mock-small"]}]}
    async with gateway_app(database_url, tmp_path, config) as (_app, http, guest):
        for stream in (False, True):
            response = await http.post("/v1/chat/completions", headers=guest,
                                       json=_ask("mock-small", "!sleep 1.5", stream=stream))
            assert_error(response, 504, "upstream_timeout")


async def test_provider_down_at_startup_is_listed_unavailable_until_synced(
    database_url: str, tmp_path: Path, admin: dict
) -> None:
    port = _free_port()
    config = {"providers": [{"name": "later", "base_url": f"http://127.0.0.1:{port}/v1",
                             "models": ["later-model"]}]}
    async with gateway_app(database_url, tmp_path, config) as (_app, http, guest):
        catalog = (await http.get("/v1/models/catalogs", headers=guest)).json()["data"]
        [later] = [m for m in catalog if m["id"] == "later-model"]
        assert later["available"] is False
        listed = (await http.get("/v1/models", headers=guest)).json()["data"]
        assert "later-model" not in [m["id"] for m in listed]
        down = await http.post("/v1/chat/completions", headers=guest, json=_ask("later-model"))
        assert_error(down, 502, "upstream_error")
        provider = (await http.get("/v1/admin/providers/later", headers=admin)).json()["data"]
        assert provider["available"] is False and "unreachable" in provider["last_error"]

        mock = MockUpstream(models=["later-model", "extra-model"])
        server = uvicorn.Server(uvicorn.Config(mock.app(), host="127.0.0.1", port=port,
                                               log_level="warning"))
        task = asyncio.create_task(server.serve())
        try:
            for _ in range(500):  # bounded wait for uvicorn to listen
                if server.started:
                    break
                await asyncio.sleep(0.02)
            synced = await http.post("/v1/admin/providers/later/sync", headers=admin)
            assert synced.status_code == 200, synced.text
            assert synced.json()["data"]["available"] is True
            assert synced.json()["data"]["models"] == ["later-model", "extra-model"]
            up = await http.post("/v1/chat/completions", headers=guest, json=_ask("extra-model"))
            assert up.status_code == 200, up.text
        finally:
            server.should_exit = True
            await task


async def test_usage_is_flushed_at_shutdown(
    database_url: str, tmp_path: Path, mock_upstream: MockUpstream
) -> None:
    settings = {"openai_base_url": mock_upstream.url, "openai_api_key": "mock-key"}
    async with gateway_app(database_url, tmp_path, None, **settings) as (_app, http, guest):
        response = await http.post("/v1/chat/completions", headers=guest,
                                   json=_ask("mock-small", "four words right here"))
        assert response.status_code == 200
    async with gateway_app(database_url, tmp_path, None, **settings) as (_app, http, _):
        report = await http.get("/v1/usage/me", headers=guest)
        assert report.json()["data"]["totals"]["prompt_tokens"] == 4


async def test_wrong_method_and_bad_providers_file(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, guest: dict
) -> None:
    assert_error(await client.get("/v1/chat/completions", headers=guest), 405)
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  - name: x\n    base_url: ftp://nope\n")
    with pytest.raises(ConfigError, match="base_url"):
        async with running_app(make_settings(database_url, providers_file=bad)):
            pass
