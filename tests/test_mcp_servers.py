"""External MCP servers: an admin registers one (a real MCP server built with the SDK, on
loopback); its allowed tools join the registry, are listed and called through /v1/mcp, and
are switched, filtered and removed like built-ins. Header secrets are never shown."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY
from parlay.db.models.tools import McpServer
from support.asserts import assert_error
from support.mcp_helpers import guest_token, mcp_session, outcome, set_tool
from support.mock_upstream import serve_asgi
from support.tool_servers import REMOTE_TOKEN, remote_mcp_app, serving

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
async def remote() -> AsyncIterator[str]:
    async with serving(remote_mcp_app()) as url:
        yield f"{url}/mcp"


@pytest.fixture
async def live(app: object) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    async with serve_asgi(app, lifespan="off") as url, \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        yield url, http


async def _register(http: httpx.AsyncClient, remote: str, **extra: object) -> dict:
    body = {"name": f"rm{secrets.token_hex(3)}", "url": remote,
            "headers": {"Authorization": f"Bearer {REMOTE_TOKEN}"},
            "allowed_tools": ["add", "shout"], **extra}
    response = await http.post("/v1/admin/mcp/servers", headers=ADMIN, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_registered_server_tools_are_listed_and_called(
        live: tuple[str, httpx.AsyncClient], remote: str, app: Any) -> None:
    url, http = live
    server = await _register(http, remote)
    name = server["name"]
    async with app.state.ctx.sessionmaker() as session:  # the secret is encrypted at rest
        row = await session.get(McpServer, server["id"])
        assert row.headers_encrypted and REMOTE_TOKEN not in row.headers_encrypted
    assert server["last_error"] is None and server["last_synced_at"]
    assert sorted(server["tools"]) == [f"{name}__add", f"{name}__shout"]
    assert server["header_names"] == ["Authorization"]
    assert REMOTE_TOKEN not in str(server)
    tool = (await http.get(f"/v1/admin/mcp/tools/{name}__add", headers=ADMIN)).json()["data"]
    assert tool["category"] == "mcp" and tool["server_id"] == server["id"]
    assert set(tool["input_schema"]["properties"]) == {"a", "b"}

    token = await guest_token(http, tools_on=False)  # external tools have no user setting
    async with mcp_session(url, token) as mcp:
        listed = {t.name: t for t in (await mcp.list_tools()).tools}
        added = outcome(await mcp.call_tool(f"{name}__add", {"a": 2, "b": 40}))
        shouted = outcome(await mcp.call_tool(f"{name}__shout", {"text": "hi"}))
        missing = outcome(await mcp.call_tool(f"{name}__forbidden", {}))
    assert f"{name}__add" in listed and f"{name}__forbidden" not in listed
    assert added["status"] == "completed" and added["text"] == "42"
    assert shouted["text"] == "HI"
    assert missing["error_code"] == "tool_not_found"

    await set_tool(http, ADMIN, f"{name}__shout",
                   {"content_filter": {"disallowed_keywords": ["secret plan"]}})
    await set_tool(http, ADMIN, f"{name}__add", {"enabled": False})
    async with mcp_session(url, token) as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        blocked = outcome(await mcp.call_tool(f"{name}__shout", {"text": "the SECRET plan"}))
        disabled = outcome(await mcp.call_tool(f"{name}__add", {"a": 1, "b": 1}))
    assert f"{name}__add" not in names and f"{name}__shout" in names
    assert blocked["error_code"] == "tool_content_blocked"
    assert disabled["error_code"] == "tool_disabled"

    resynced = await http.post(f"/v1/admin/mcp/servers/{server['id']}/sync", headers=ADMIN)
    assert resynced.status_code == 200
    shout = (await http.get(f"/v1/admin/mcp/tools/{name}__shout", headers=ADMIN)).json()
    assert shout["data"]["content_filter"]["disallowed_keywords"] == ["secret plan"]

    off = await http.patch(f"/v1/admin/mcp/servers/{server['id']}", headers=ADMIN,
                           json={"enabled": False})
    assert off.status_code == 200 and off.json()["data"]["enabled"] is False
    async with mcp_session(url, token) as mcp:
        unavailable = outcome(await mcp.call_tool(f"{name}__shout", {"text": "x"}))
    assert unavailable["error_code"] == "tool_unavailable"

    assert (await http.delete(f"/v1/admin/mcp/servers/{server['id']}",
                              headers=ADMIN)).status_code == 204
    assert_error(await http.get(f"/v1/admin/mcp/tools/{name}__shout", headers=ADMIN), 404)
    assert_error(await http.get(f"/v1/admin/mcp/servers/{server['id']}", headers=ADMIN), 404,
                 "mcp_server_not_found")
    audit = (await http.get("/v1/admin/audit", headers=ADMIN, params={
        "target_type": "mcp_server", "target_id": server["id"]})).json()["data"]
    assert [a["action"] for a in audit] == ["mcp_server.delete", "mcp_server.update",
                                            "mcp_server.create"]
    assert REMOTE_TOKEN not in str(audit)


async def test_wrong_secret_is_saved_with_the_error_and_fixed_by_patch(
        live: tuple[str, httpx.AsyncClient], remote: str) -> None:
    _url, http = live
    server = await _register(http, remote, headers={"Authorization": "Bearer wrong"})
    assert server["tools"] == [] and "401" in server["last_error"]
    fixed = await http.patch(f"/v1/admin/mcp/servers/{server['id']}", headers=ADMIN, json={
        "headers": {"Authorization": f"Bearer {REMOTE_TOKEN}"}, "allowed_tools": None})
    data = fixed.json()["data"]
    assert data["last_error"] is None and len(data["tools"]) == 3
    audit = (await http.get("/v1/admin/audit", headers=ADMIN, params={
        "target_type": "mcp_server", "target_id": server["id"]})).json()["data"]
    assert audit[0]["changes"]["after"]["headers"] == "replaced"
    assert REMOTE_TOKEN not in str(audit)
    await http.delete(f"/v1/admin/mcp/servers/{server['id']}", headers=ADMIN)


async def test_server_validation(live: tuple[str, httpx.AsyncClient], remote: str) -> None:
    _url, http = live
    server = await _register(http, remote)
    again = await http.post("/v1/admin/mcp/servers", headers=ADMIN,
                            json={"name": server["name"], "url": remote})
    assert_error(again, 409, "mcp_server_exists")
    for body in ({"name": "Bad Name", "url": remote}, {"name": "ok", "url": "ftp://x"},
                 {"name": "ok", "url": remote, "headers": {"X": "a\r\nb"}},
                 {"name": "ok", "url": remote, "extra": 1}):
        assert_error(await http.post("/v1/admin/mcp/servers", headers=ADMIN, json=body), 422)
    user = {"Authorization": f"Bearer {await guest_token(http)}"}
    assert_error(await http.get("/v1/admin/mcp/servers", headers=user), 403)
    listed = (await http.get("/v1/admin/mcp/servers", headers=ADMIN)).json()["data"]
    assert server["id"] in {s["id"] for s in listed}
    await http.delete(f"/v1/admin/mcp/servers/{server['id']}", headers=ADMIN)
