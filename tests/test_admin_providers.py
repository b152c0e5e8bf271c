"""Admin: providers (keys encrypted at rest, never returned) and catalog edits."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from conftest import asgi_client, make_settings, running_app
from parlay.db.repositories import providers as repo
from parlay.services.secretbox import SecretBox
from support.asserts import assert_error
from support.mock_upstream import running_mock


def _ask(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def test_guests_cannot_touch_providers(client: httpx.AsyncClient, guest: dict) -> None:
    for method, path in [("GET", "/v1/admin/providers"), ("POST", "/v1/admin/providers"),
                         ("GET", "/v1/admin/providers/openai"),
                         ("PATCH", "/v1/admin/providers/openai"),
                         ("DELETE", "/v1/admin/providers/openai"),
                         ("POST", "/v1/admin/providers/openai/sync"),
                         ("PATCH", "/v1/admin/models/catalogs/mock-small")]:
        response = await client.request(method, path, headers=guest, json={})
        assert_error(response, 403)


async def test_env_provider_is_listed_read_only_without_its_key(
    client: httpx.AsyncClient, admin: dict
) -> None:
    response = await client.get("/v1/admin/providers", headers=admin)
    assert response.status_code == 200
    assert "mock-key" not in response.text
    [openai] = [p for p in response.json()["data"] if p["name"] == "openai"]
    assert openai["source"] == "env" and openai["read_only"] is True
    assert openai["has_api_key"] is True and openai["available"] is True
    assert {"mock-small", "mock-large"} <= set(openai["models"])
    assert_error(await client.patch("/v1/admin/providers/openai", headers=admin,
                                     json={"timeout": 5}), 409, "provider_read_only")
    assert_error(await client.delete("/v1/admin/providers/openai", headers=admin), 409,
                 "provider_read_only")
    synced = await client.post("/v1/admin/providers/openai/sync", headers=admin)
    assert synced.json()["data"]["available"] is True
    assert_error(await client.get("/v1/admin/providers/nobody", headers=admin), 404,
                 "provider_not_found")


async def test_provider_lifecycle_with_encrypted_key(
    client: httpx.AsyncClient, app: Any, admin: dict, guest: dict
) -> None:
    name = f"p-{secrets.token_hex(4)}"
    model, key = f"m-{secrets.token_hex(4)}", "upstream-" + secrets.token_hex(8)
    async with running_mock(models=[model], api_key=key) as upstream:
        created = await client.post("/v1/admin/providers", headers=admin, json={
            "name": name, "base_url": upstream.url, "api_key": key, "timeout": 30})
        assert created.status_code == 201, created.text
        assert key not in created.text
        provider = created.json()["data"]
        try:
            assert provider["id"].startswith("prov_") and provider["source"] == "admin"
            assert provider["has_api_key"] is True and provider["available"] is True
            assert provider["models"] == [model]
            async with app.state.ctx.sessionmaker() as session:
                record = await repo.get_provider(session, provider["id"])
            assert key not in record.api_key_encrypted
            assert SecretBox("test-secret-key-" + "y" * 32).decrypt(record.api_key_encrypted) == key

            chat = await client.post("/v1/chat/completions", headers=guest, json=_ask(model))
            assert chat.status_code == 200, chat.text
            assert upstream.chat_requests()[-1].headers["authorization"] == f"Bearer {key}"

            again = await client.post("/v1/admin/providers", headers=admin, json={
                "name": name, "base_url": upstream.url})
            assert_error(again, 409, "provider_exists")

            wrong = await client.patch(f"/v1/admin/providers/{provider['id']}", headers=admin,
                                       json={"api_key": "wrong"})
            assert wrong.json()["data"]["available"] is False
            assert "credentials" in wrong.json()["data"]["last_error"]
            fixed = await client.patch(f"/v1/admin/providers/{name}", headers=admin,
                                       json={"api_key": key, "retries": 1})
            assert fixed.json()["data"]["available"] is True
            assert fixed.json()["data"]["retries"] == 1

            bad_url = await client.patch(f"/v1/admin/providers/{name}", headers=admin,
                                         json={"base_url": "ftp://x"})
            assert_error(bad_url, 422)
        finally:
            deleted = await client.delete(f"/v1/admin/providers/{provider['id']}", headers=admin)
        assert deleted.status_code == 204
        assert_error(await client.get(f"/v1/admin/providers/{name}", headers=admin), 404)
        assert_error(await client.post("/v1/chat/completions", headers=guest, json=_ask(model)),
                     404, "model_not_found")


async def test_catalog_edits_apply_at_once(
    client: httpx.AsyncClient, admin: dict, guest: dict
) -> None:
    name, model = f"p-{secrets.token_hex(4)}", f"m-{secrets.token_hex(4)}"
    async with running_mock(models=[model]) as upstream:
        created = await client.post("/v1/admin/providers", headers=admin, json={
            "name": name, "base_url": upstream.url})
        provider_id = created.json()["data"]["id"]
        try:
            path = f"/v1/admin/models/catalogs/{model}"
            edited = await client.patch(path, headers=admin, json={
                "name": "Browsing Model", "capabilities": ["chat", "browser"]})
            assert edited.status_code == 200, edited.text
            assert edited.json()["data"]["name"] == "Browsing Model"
            browser = await client.get("/v1/models/catalogs", headers=guest,
                                       params={"capability": "browser"})
            assert model in [m["id"] for m in browser.json()["data"]]

            disabled = await client.patch(path, headers=admin, json={"enabled": False})
            assert disabled.json()["data"]["available"] is False
            assert_error(await client.post("/v1/chat/completions", headers=guest,
                                           json=_ask(model)), 404, "model_disabled")
            listed = (await client.get("/v1/models", headers=guest)).json()["data"]
            assert model not in [m["id"] for m in listed]

            enabled = await client.patch(path, headers=admin, json={"enabled": True})
            assert enabled.json()["data"]["available"] is True
            assert enabled.json()["data"]["name"] == "Browsing Model"
            ok = await client.post("/v1/chat/completions", headers=guest, json=_ask(model))
            assert ok.status_code == 200
            assert_error(await client.patch("/v1/admin/models/catalogs/nope", headers=admin,
                                            json={"enabled": False}), 404, "model_not_found")
        finally:
            await client.delete(f"/v1/admin/providers/{provider_id}", headers=admin)


async def test_admin_providers_survive_a_restart(
    database_url: str, tmp_path: Path, admin: dict
) -> None:
    name, model, key = f"p-{secrets.token_hex(4)}", f"m-{secrets.token_hex(4)}", "k-restart"
    settings = make_settings(database_url)
    async with running_mock(models=[model], api_key=key) as upstream:
        async with running_app(settings) as app, asgi_client(app) as http:
            created = await http.post("/v1/admin/providers", headers=admin, json={
                "name": name, "base_url": upstream.url, "api_key": key})
            assert created.status_code == 201
            await http.patch(f"/v1/admin/models/catalogs/{model}", headers=admin,
                             json={"name": "Kept Name"})
        try:
            async with running_app(settings) as app, asgi_client(app) as http:
                catalog = await http.get(f"/v1/models/catalogs/{model}", headers=admin)
                assert catalog.json()["data"]["name"] == "Kept Name"
                assert catalog.json()["data"]["available"] is True
                chat = await http.post("/v1/chat/completions", headers=admin, json=_ask(model))
                assert chat.status_code == 200, chat.text
                assert upstream.chat_requests()[-1].headers["authorization"] == f"Bearer {key}"
        finally:
            async with running_app(settings) as app, asgi_client(app) as http:
                await http.delete(f"/v1/admin/providers/{name}", headers=admin)


async def test_provider_input_is_validated(client: httpx.AsyncClient, admin: dict) -> None:
    base = {"name": f"p-{secrets.token_hex(4)}", "base_url": "http://127.0.0.1:9/v1"}
    for bad in ({"api_key": "k\r\nx-injected: 1"}, {"api_key": "ключ"},
                {"base_url": "ftp://host"}, {"base_url": "http://[::1"},
                {"base_url": "http://host:99999"}, {"models": [""]},
                {"models": [{"id": "m", "aliases": [""]}]}, {"name": "bad name"}):
        response = await client.post("/v1/admin/providers", headers=admin, json={**base, **bad})
        assert_error(response, 422)
