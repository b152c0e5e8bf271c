"""Generated from the OpenAPI route table, so a new route cannot skip it:
- every /v1/admin route (tools, users, audit, providers, the model catalog...) refuses a guest,
  a registered user and a user's API key with 403, even with real ids and valid bodies, and
  changes nothing;
- every route that takes another user's resource id answers 404 (never 403, no leak) and
  changes nothing.
A route whose path parameter is not classified below fails the test until someone decides
what it should do. The last tests add an unguarded route to an app and check that these
checks catch it."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import httpx

from conftest import ADMIN_KEY, asgi_client, make_settings, new_guest, running_app
from support.mock_upstream import MockUpstream

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
# Admin routes get real ids and bodies an admin would be allowed to send: a missing guard
# then shows as a success (and a change), not as a 404 or 422 that looks like a refusal.
ADMIN_BODIES = {
    ("post", "/v1/admin/providers"): {"name": "intruder", "base_url": "http://127.0.0.1:9/v1"},
    ("patch", "/v1/admin/providers/{provider_id}"): {"timeout": 5},
    ("patch", "/v1/admin/models/catalogs/{model_id}"): {"enabled": False},
    ("patch", "/v1/admin/mcp/tools/{tool_id}"): {"enabled": False, "reason": "intruder"},
    ("patch", "/v1/admin/users/{user_id}"): {"disabled": True},
}
ADMIN_PATHS_EXPECTED = {
    "/v1/admin/providers", "/v1/admin/providers/{provider_id}",
    "/v1/admin/providers/{provider_id}/sync", "/v1/admin/models/catalogs/{model_id}",
    "/v1/admin/mcp/tools/{tool_id}", "/v1/admin/users/{user_id}", "/v1/admin/audit",
}


async def _spec(client: httpx.AsyncClient) -> dict:
    return (await client.get("/openapi.json")).json()["paths"]


async def _non_admins(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    guest = await new_guest(client)
    registered = await client.post("/llm/auth/register", json={
        "email": f"u-{secrets.token_hex(5)}@example.com", "password": "password1"})
    assert registered.status_code == 201, registered.text
    key = (await client.post("/llm/auth/api-keys", headers=guest, json={"name": "k"})).json()
    return {"guest": guest,
            "registered user": {"Authorization": f"Bearer {registered.json()['access_token']}"},
            "API key": {"X-API-Key": key["data"]["key"]}}


async def admin_route_violations(client: httpx.AsyncClient, params: dict[str, str]
                                 ) -> tuple[list[str], set[str]]:
    """(what a non-admin was not refused with 403, the admin paths checked)."""
    violations, checked = [], set()
    principals = await _non_admins(client)
    for path, operations in (await _spec(client)).items():
        if not path.startswith("/v1/admin"):
            continue
        names = set(re.findall(r"\{([^}]+)\}", path))
        if unknown := names - set(params):
            violations.append(f"{path}: give {unknown} a real value in ADMIN params")
            continue
        concrete = path.format(**params)
        for method in operations:
            for who, headers in principals.items():
                response = await client.request(method.upper(), concrete, headers=headers,
                                                json=ADMIN_BODIES.get((method, path)))
                if response.status_code != 403 or \
                        response.json().get("error", {}).get("code") != "admin_required":
                    violations.append(f"{method.upper()} {concrete} as {who}: "
                                      f"{response.status_code} {response.text[:200]}")
            checked.add(path)
    return violations, checked


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


async def cross_user_violations(client: httpx.AsyncClient, owned: dict[str, str],
                                intruder: dict) -> tuple[list[str], int]:
    """(what another user's ids did not answer with 404, operations checked)."""
    violations, checked = [], 0
    for path, operations in (await _spec(client)).items():
        params = set(re.findall(r"\{([^}]+)\}", path))
        if not params or path.startswith("/v1/admin") or path in NOT_OWNER_SCOPED:
            continue
        if unknown := params - OWNED_PARAMS:
            violations.append(f"{path}: classify {unknown} in tests/test_route_security.py")
            continue
        concrete = path.format(**owned)
        for method in operations:
            response = await client.request(method.upper(), concrete, headers=intruder,
                                            json=BODIES.get((method, path)))
            if response.status_code != 404 or "error" not in response.json():
                violations.append(f"{method.upper()} {concrete}: {response.status_code}")
            checked += 1
    return violations, checked


async def test_non_admins_get_403_on_every_admin_route(client: httpx.AsyncClient, admin: dict,
                                                       other_guest: dict) -> None:
    other = (await client.get("/llm/auth/me", headers=other_guest)).json()["data"]["id"]
    # Real ids where one exists without an external service; an MCP server needs one, so a
    # well-formed unknown id (a missing guard then shows as 404, still not the 403 due).
    params = {"provider_id": "openai", "model_id": "mock-small", "tool_id": "web_search",
              "user_id": other, "server_id": "mcps_unknown"}
    before = {"provider": (await client.get("/v1/admin/providers/openai", headers=admin)).json(),
              "tool": (await client.get("/v1/admin/mcp/tools/web_search", headers=admin)).json()}
    violations, checked = await admin_route_violations(client, params)
    assert not violations, "\n".join(violations)
    assert checked >= ADMIN_PATHS_EXPECTED, ADMIN_PATHS_EXPECTED - checked
    # Nothing the non-admins tried changed anything.
    assert (await client.get("/v1/admin/providers/openai", headers=admin)).json() == \
        before["provider"]
    assert (await client.get("/v1/admin/mcp/tools/web_search", headers=admin)).json() == \
        before["tool"]
    assert (await client.get("/v1/admin/providers/intruder", headers=admin)).status_code == 404
    catalog = (await client.get("/v1/models/catalogs/mock-small", headers=other_guest)).json()
    assert catalog["data"]["enabled"] is True
    assert (await client.get("/llm/auth/me", headers=other_guest)).status_code == 200


async def test_another_users_ids_are_404_on_every_route(client: httpx.AsyncClient, guest: dict,
                                                        other_guest: dict) -> None:
    owned = await _owned_resources(client, guest)
    violations, checked = await cross_user_violations(client, owned, other_guest)
    assert not violations, "\n".join(violations)
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


def _add_unguarded_routes(app: Any) -> None:
    @app.get("/v1/admin/leak")
    async def leak() -> dict[str, bool]:  # forgot AdminUser
        return {"ok": True}

    @app.get("/v1/conversations/{conversation_id}/leak")
    async def leak_conversation(conversation_id: str) -> dict[str, str]:  # forgot the owner
        return {"id": conversation_id}


async def test_the_checks_catch_a_route_missing_its_guard(tmp_path: Path,
                                                         mock_upstream: MockUpstream) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/leaky.db", openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key")
    async with running_app(settings) as app, asgi_client(app) as client:
        _add_unguarded_routes(app)
        admin_violations, _ = await admin_route_violations(client, {
            "provider_id": "x", "model_id": "x", "tool_id": "web_search", "user_id": "x",
            "server_id": "x"})
        assert len(admin_violations) == 3, admin_violations  # guest, user, API key
        assert all(v.startswith("GET /v1/admin/leak as ") for v in admin_violations)
        owned = await _owned_resources(client, await new_guest(client))
        owner_violations, _ = await cross_user_violations(client, owned, await new_guest(client))
        assert owner_violations == [
            f"GET /v1/conversations/{owned['conversation_id']}/leak: 200"]
