"""Generated from the OpenAPI route table, so a new route cannot skip it:
- every /v1/admin route refuses a guest with 403;
- every route that takes another user's resource id answers 404 (never 403, no leak) and
  changes nothing.
A route whose path parameter is not classified below fails the test until someone decides
what it should do."""

from __future__ import annotations

import re

import httpx

from conftest import ADMIN_KEY
from support.asserts import assert_error

# Path parameters that name something a user owns, and how to get the owner's value.
OWNED_PARAMS = {"conversation_id", "item_id", "share_id", "key_id", "approval_id",
                "response_id", "memory_id"}
# Routes whose parameters are not per-user secrets: global catalog entries, share tokens
# (whoever holds the token may read), admin-only resources (covered by the 403 check).
NOT_OWNER_SCOPED = {
    "/v1/models/{model_id}",
    "/v1/models/catalogs/{model_id}",
    "/v1/public/shares/{token}",
    "/v1/public/shares/{token}/feedback",
    "/v1/public/shares/{token}/fork",
    "/share/{token}",
}
BODIES = {
    ("patch", "/v1/conversations/{conversation_id}"): {"title": "stolen"},
    ("post", "/v1/conversations/{conversation_id}"): {"title": "stolen"},
    ("post", "/v1/conversations/{conversation_id}/items"):
        {"role": "user", "content": "hi", "generate": False},
    ("patch", "/v1/conversations/{conversation_id}/items/{item_id}"): {"content": "stolen"},
    ("post", "/v1/conversations/{conversation_id}/items/{item_id}/regenerate"): {},
    ("post", "/v1/conversations/{conversation_id}/share"): {"expires_in": 3600},
    ("patch", "/v1/users/me/memories/{memory_id}"): {"text": "stolen"},
}


async def _spec(client: httpx.AsyncClient) -> dict:
    return (await client.get("/openapi.json")).json()["paths"]


async def _owned_resources(client: httpx.AsyncClient, owner: dict) -> dict[str, str]:
    conv = (await client.post("/v1/conversations", headers=owner, json={"title": "mine"})).json()["data"]
    item = (await client.post(f"/v1/conversations/{conv['id']}/items", headers=owner,
                              json={"role": "user", "content": "secret", "generate": False})).json()["data"]
    share = (await client.post(f"/v1/conversations/{conv['id']}/share", headers=owner,
                               json={"expires_in": 3600})).json()["data"]
    key = (await client.post("/llm/auth/api-keys", headers=owner, json={"name": "k"})).json()["data"]
    response = (await client.post("/v1/responses", headers=owner,
                                  json={"model": "mock-small", "input": "secret"})).json()
    memory = (await client.post("/v1/users/me/memories", headers=owner,
                                json={"text": "my secret fact"})).json()["data"]
    return {"conversation_id": conv["id"], "item_id": item["id"], "share_id": share["id"],
            "key_id": key["id"], "share_token": share["share_token"],
            "response_id": response["id"], "memory_id": memory["id"],
            "approval_id": await _pending_approval(client, owner)}


async def _pending_approval(client: httpx.AsyncClient, owner: dict) -> str:
    """A tool call of the owner's waiting for their approval (made through /v1/mcp)."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    url = "/v1/admin/mcp/tools/code_executor"
    await client.patch(url, headers=admin, json={"enabled": True, "content_filter": {
        "disallowed_keywords": [], "require_approval_for": ["all"]}})
    await client.patch("/v1/users/me/settings", headers=owner,
                       json={"advanced_settings": {"code_execution_enabled": True}})
    try:
        answer = await client.post("/v1/mcp", headers={
            **owner, "Accept": "application/json, text/event-stream"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "code_executor", "arguments": {"code": "print(1)"}}})
    finally:
        await client.patch(url, headers=admin, json={"content_filter": {
            "require_approval_for": []}})
    return answer.json()["result"]["structuredContent"]["approval_id"]


async def test_guest_gets_403_on_every_admin_route(client: httpx.AsyncClient, guest: dict) -> None:
    paths = await _spec(client)
    checked = 0
    for path, operations in paths.items():
        if not path.startswith("/v1/admin"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "whatever", path)
        for method in operations:
            response = await client.request(method.upper(), concrete, headers=guest, json={})
            assert_error(response, 403)
            checked += 1
    assert checked >= 10


async def test_another_users_ids_are_404_on_every_route(client: httpx.AsyncClient, guest: dict,
                                                        other_guest: dict) -> None:
    owned = await _owned_resources(client, guest)
    paths = await _spec(client)
    checked = 0
    for path, operations in paths.items():
        params = set(re.findall(r"\{([^}]+)\}", path))
        if not params or path.startswith("/v1/admin") or path in NOT_OWNER_SCOPED:
            continue
        unknown = params - OWNED_PARAMS
        assert not unknown, f"{path}: classify {unknown} in tests/test_route_security.py"
        concrete = path.format(**owned)
        for method in operations:
            body = BODIES.get((method, path))
            response = await client.request(method.upper(), concrete, headers=other_guest,
                                            json=body)
            assert_error(response, 404)
            checked += 1
    assert checked >= 12
    # Nothing the intruder tried changed the owner's data.
    conv = (await client.get(f"/v1/conversations/{owned['conversation_id']}", headers=guest)).json()["data"]
    assert conv["title"] == "mine"
    assert [i["content"] for i in conv["items"]] == ["secret"]
    approval = (await client.get(f"/v1/tool-approvals/{owned['approval_id']}",
                                 headers=guest)).json()["data"]
    assert approval["status"] == "pending" and approval["result"] is None
    shared = await client.get(f"/v1/public/shares/{owned['share_token']}")
    assert shared.status_code == 200
    keys = (await client.get("/llm/auth/api-keys", headers=guest)).json()["data"]
    assert [k["id"] for k in keys] == [owned["key_id"]]
    response = await client.get(f"/v1/responses/{owned['response_id']}", headers=guest)
    assert response.json()["output_text"] == "echo: secret"
    memory = (await client.get(f"/v1/users/me/memories/{owned['memory_id']}", headers=guest))
    assert memory.json()["data"]["text"] == "my secret fact"
