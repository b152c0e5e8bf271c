"""GET /v1/models (OpenAI shape) and /v1/models/catalogs (Parlay's catalog)."""

from __future__ import annotations

import httpx

from support.asserts import assert_error


async def test_models_list_is_openai_shaped(client: httpx.AsyncClient, guest: dict) -> None:
    response = await client.get("/v1/models", headers=guest)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert by_id["mock-small"] == {"id": "mock-small", "object": "model",
                                   "created": 1700000000, "owned_by": "mock"}
    assert "mock-large" in by_id


async def test_retrieve_one_model(client: httpx.AsyncClient, guest: dict) -> None:
    response = await client.get("/v1/models/mock-large", headers=guest)
    assert response.json() == {"id": "mock-large", "object": "model", "created": 1700000000,
                               "owned_by": "mock"}
    assert_error(await client.get("/v1/models/nope", headers=guest), 404, "model_not_found")


async def test_catalog_lists_provider_availability_and_capabilities(
    client: httpx.AsyncClient, guest: dict
) -> None:
    response = await client.get("/v1/models/catalogs", headers=guest)
    assert response.status_code == 200
    by_id = {m["id"]: m for m in response.json()["data"]}
    small = by_id["mock-small"]
    assert small["name"] == "mock-small" and small["provider"] == "openai"
    assert small["available"] is True and small["enabled"] is True
    assert small["capabilities"] == ["chat"]
    assert set(small) >= {"id", "name", "provider", "available", "capabilities",
                          "context_length", "supported_parameters"}
    one = await client.get("/v1/models/catalogs/mock-small", headers=guest)
    assert one.json()["data"] == small
    assert_error(await client.get("/v1/models/catalogs/nope", headers=guest), 404,
                 "model_not_found")


async def test_catalog_filters(client: httpx.AsyncClient, guest: dict) -> None:
    tools = await client.get("/v1/models/catalogs", headers=guest,
                             params={"capability": "no-such-capability"})
    assert tools.json()["data"] == []
    chat = await client.get("/v1/models/catalogs", headers=guest,
                            params={"capability": "chat", "provider": "openai"})
    assert {"mock-small", "mock-large"} <= {m["id"] for m in chat.json()["data"]}
    nothing = await client.get("/v1/models/catalogs", headers=guest,
                               params={"provider": "nobody"})
    assert nothing.json()["data"] == []


async def test_models_need_credentials(client: httpx.AsyncClient) -> None:
    for path in ("/v1/models", "/v1/models/catalogs", "/v1/models/catalogs/mock-small",
                 "/v1/models/mock-small"):
        assert_error(await client.get(path), 401)
