"""The OpenAPI schema says what the API enforces, and links each create operation to the
operations that take the ids it returns."""

from __future__ import annotations

import re

import httpx

from parlay.api.schemas import EMAIL_PATTERN
from parlay.urls import BASE_URL_PATTERN, check_base_url

EXPECTED_LINKS = {
    ("post", "/v1/conversations"): {"/v1/conversations/{conversation_id}",
                                    "/v1/conversations/{conversation_id}/items"},
    ("post", "/v1/conversations/{conversation_id}/items"):
        {"/v1/conversations/{conversation_id}/items/{item_id}"},
    ("post", "/v1/conversations/{conversation_id}/share"):
        {"/v1/shares/{share_id}", "/v1/public/shares/{token}", "/share/{token}"},
    ("post", "/llm/auth/api-keys"): {"/llm/auth/api-keys/{key_id}"},
    ("post", "/v1/admin/providers"): {"/v1/admin/providers/{provider_id}",
                                      "/v1/admin/providers/{provider_id}/sync"},
}


async def _schema(client: httpx.AsyncClient) -> dict:
    return (await client.get("/openapi.json")).json()


def _operations(schema: dict) -> dict[str, tuple[str, str, dict]]:
    return {op["operationId"]: (method, path, op)
            for path, ops in schema["paths"].items() for method, op in ops.items()}


async def test_every_link_names_a_real_operation_and_its_parameters(
        client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    operations = _operations(schema)
    linked: dict[tuple[str, str], set[str]] = {}
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    _, target_path, target = operations[link["operationId"]]
                    names = {p["name"] for p in target.get("parameters", [])
                             if p["in"] == "path"}
                    assert set(link["parameters"]) == names, (path, link)
                    for expression in link["parameters"].values():
                        assert re.fullmatch(r"\$(response\.body#/[\w/]+|request\.path\.\w+)",
                                            expression), expression
                    linked.setdefault((method, path), set()).add(target_path)
    for source, targets in EXPECTED_LINKS.items():
        assert targets <= linked.get(source, set()), (source, linked.get(source))


async def test_following_a_link_reaches_the_resource(client: httpx.AsyncClient,
                                                     guest: dict) -> None:
    schema = await _schema(client)
    links = schema["paths"]["/v1/conversations/{conversation_id}/share"]["post"][
        "responses"]["201"]["links"]
    conv = (await client.post("/v1/conversations", headers=guest, json={})).json()["data"]
    share = (await client.post(f"/v1/conversations/{conv['id']}/share", headers=guest,
                               json={})).json()
    operations = _operations(schema)
    for link in links.values():
        method, path, _ = operations[link["operationId"]]
        if method != "get":
            continue
        values = {name: _resolve(share, expression)
                  for name, expression in link["parameters"].items()}
        response = await client.get(path.format(**values), headers=guest)
        assert response.status_code == 200, (path, response.text)


def _resolve(body: dict, expression: str) -> str:
    value: object = body
    for part in expression.split("#/", 1)[1].split("/"):
        assert isinstance(value, dict)
        value = value[part]
    assert isinstance(value, str)
    return value


def test_email_pattern_matches_what_email_validation_accepts() -> None:
    from pydantic import TypeAdapter, ValidationError

    from parlay.api.schemas import Email

    adapter = TypeAdapter(Email)
    for address in ["a@example.com", "a.b+c@mail.co.uk", "x@b.test", "x@b.LOCAL", "x@localhost",
                    "x@onion.onion", "x@sub.invalid", "x@example.arpa", "x@test.com"]:
        try:
            adapter.validate_python(address)
            accepted = True
        except ValidationError:
            accepted = False
        assert bool(re.search(EMAIL_PATTERN, address)) == accepted, address


def test_base_url_pattern_matches_check_base_url() -> None:
    for url in ["https://api.openai.com/v1", "http://127.0.0.1:11434/v1", "HTTP://h.io/",
                "https://[::1]:8080/v1", "ftp://x", "https://", "https://a b", "https://a?b",
                "https://a#b", "http://é.com", "https://a.com/v1?x=1"]:
        try:
            check_base_url(url)
            accepted = True
        except ValueError:
            accepted = False
        assert bool(re.search(BASE_URL_PATTERN, url)) == accepted, url
