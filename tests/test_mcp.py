"""/v1/mcp over a real socket with the official mcp SDK client: auth, listing per caller,
calling each built-in, admin switches and filters, approvals, the call log, rate limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, make_settings, running_app
from support.asserts import assert_error
from support.mcp_helpers import (
    BUILTINS,
    guest_token,
    mcp_session,
    outcome,
    reset_builtins,
    set_tool,
)
from support.mock_upstream import MockUpstream, serve_asgi
from support.tool_servers import SearchApis, serving, website

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
async def sites() -> AsyncIterator[dict[str, str]]:
    async with serving(website()) as site, serving(SearchApis().app()) as search:
        yield {"site": site, "search": search, "port": site.rsplit(":", 1)[1]}


@contextlib.asynccontextmanager
async def live_app(database_url: str, mock: MockUpstream, sites: dict[str, str],
                   **overrides: Any) -> AsyncIterator[str]:
    settings = make_settings(database_url, openai_base_url=mock.url, openai_api_key="mock-key",
                             searxng_url=sites["search"], web_allowed_hosts=["localhost"],
                             **overrides)
    async with running_app(settings) as app, serve_asgi(app, lifespan="off") as url:
        yield url


@pytest.fixture(scope="module")
async def parlay(database_url: str, mock_upstream: MockUpstream,
                 sites: dict[str, str]) -> AsyncIterator[str]:
    async with live_app(database_url, mock_upstream, sites) as url:
        yield url


@pytest.fixture
async def http(parlay: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=parlay, timeout=60) as client:
        await reset_builtins(client, ADMIN)
        yield client
        await reset_builtins(client, ADMIN)


async def test_auth_is_required_and_the_route_is_exact(http: httpx.AsyncClient) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    assert_error(await http.post("/v1/mcp", json=body), 401, "missing_credentials")
    assert_error(await http.post("/v1/mcp", json=body,
                                 headers={"Authorization": "Bearer nope"}), 401)
    token = await guest_token(http)
    answer = await http.post("/v1/mcp", json=body, follow_redirects=False, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
        "Host": "parlay.example.org"})  # any Host: no DNS-rebinding 421
    assert answer.status_code == 200, answer.text
    assert {t["name"] for t in answer.json()["result"]["tools"]} >= set(BUILTINS)
    # Stateless: no stream to open on GET, no session to DELETE.
    for method in ("GET", "DELETE"):
        assert_error(await http.request(method, "/v1/mcp", headers={
            "Authorization": f"Bearer {token}"}), 405, "method_not_allowed")


async def test_lists_and_calls_each_builtin(http: httpx.AsyncClient, parlay: str,
                                            sites: dict[str, str]) -> None:
    token = await guest_token(http)
    async with mcp_session(parlay, token) as mcp:
        listed = {t.name: t for t in (await mcp.list_tools()).tools}
        assert set(BUILTINS) <= set(listed)
        assert listed["web_search"].input_schema["required"] == ["query"]
        assert listed["web_scraper"].input_schema["properties"]["url"]["type"] == "string"
        assert listed["code_executor"].input_schema["required"] == ["code"]
        search = outcome(await mcp.call_tool("web_search", {"query": "tomatoes"}))
        page = outcome(await mcp.call_tool(
            "web_scraper", {"url": f"http://localhost:{sites['port']}/article"}))
        code = outcome(await mcp.call_tool("code_executor", {"code": "print(6 * 7)"}))
    assert search["status"] == "completed" and not search["is_error"]
    assert "Tomato growing guide (tomatoes)" in search["text"]
    assert page["status"] == "completed" and "## Watering schedule" in page["text"]
    assert "NAVMARK" not in page["text"]
    assert code["status"] == "completed" and code["data"]["stdout"] == "42\n"
    me = (await http.get("/llm/auth/me", headers={"Authorization": f"Bearer {token}"})).json()
    log = (await http.get("/v1/admin/tool-calls", headers=ADMIN,
                          params={"user_id": me["data"]["id"]})).json()["data"]
    assert sorted(c["tool"] for c in log) == sorted(BUILTINS)
    assert all(c["status"] == "completed" and c["source"] == "mcp" for c in log)
    assert all(set(c) >= {"duration_ms", "created_at", "error_code"} for c in log)


async def test_the_scraper_refuses_loopback_through_mcp(http: httpx.AsyncClient, parlay: str,
                                                        sites: dict[str, str]) -> None:
    token = await guest_token(http)
    async with mcp_session(parlay, token) as mcp:
        refused = outcome(await mcp.call_tool(
            "web_scraper", {"url": f"http://127.0.0.1:{sites['port']}/article"}))
        bad = outcome(await mcp.call_tool("web_scraper", {"link": "x"}))
    assert refused["is_error"] and refused["error_code"] == "url_not_allowed"
    assert bad["error_code"] == "invalid_arguments"


async def test_the_users_settings_gate_the_tools(http: httpx.AsyncClient, parlay: str) -> None:
    token = await guest_token(http, tools_on=False)
    async with mcp_session(parlay, token) as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        refused = outcome(await mcp.call_tool("code_executor", {"code": "print(1)"}))
    assert not names & set(BUILTINS)
    assert refused["status"] == "refused"
    assert refused["error_code"] == "tool_not_enabled_for_user"
    assert "advanced_settings.code_execution_enabled" in refused["text"]


async def test_a_disabled_tool_is_absent_and_refused(http: httpx.AsyncClient,
                                                     parlay: str) -> None:
    token = await guest_token(http)
    await set_tool(http, ADMIN, "code_executor", {"enabled": False, "reason": "maintenance"})
    async with mcp_session(parlay, token) as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        refused = outcome(await mcp.call_tool("code_executor", {"code": "print(1)"}))
        unknown = outcome(await mcp.call_tool("no_such_tool", {}))
    assert "code_executor" not in names and "web_search" in names
    assert refused["status"] == "refused" and refused["error_code"] == "tool_disabled"
    assert "maintenance" in refused["text"] and "stdout" not in refused["data"]
    assert unknown["error_code"] == "tool_not_found"


async def test_a_keyword_filter_refuses_and_is_audited(http: httpx.AsyncClient,
                                                       parlay: str) -> None:
    token = await guest_token(http)
    await set_tool(http, ADMIN, "code_executor", {"content_filter": {
        "disallowed_keywords": ["rm -rf", "drop table"]}})
    async with mcp_session(parlay, token) as mcp:
        refused = outcome(await mcp.call_tool(
            "code_executor", {"code": "print('RM   -RF /')"}))
        allowed = outcome(await mcp.call_tool("code_executor", {"code": "print('fine')"}))
    assert refused["status"] == "refused" and refused["error_code"] == "tool_content_blocked"
    assert "'rm -rf'" in refused["text"]
    assert allowed["status"] == "completed"
    me = (await http.get("/llm/auth/me", headers={"Authorization": f"Bearer {token}"})).json()
    user_id = me["data"]["id"]
    audit = (await http.get("/v1/admin/audit", headers=ADMIN, params={
        "actor_id": user_id, "action": "tool_call.blocked"})).json()["data"]
    assert len(audit) == 1 and audit[0]["target_id"] == "code_executor"
    assert audit[0]["changes"] == {"disallowed_keywords": ["rm -rf"]}
    log = (await http.get("/v1/admin/tool-calls", headers=ADMIN,
                          params={"user_id": user_id, "status": "refused"})).json()["data"]
    assert [c["error_code"] for c in log] == ["tool_content_blocked"]


async def test_an_approval_pauses_the_call_then_runs_it(http: httpx.AsyncClient,
                                                        parlay: str) -> None:
    token = await guest_token(http)
    other = {"Authorization": f"Bearer {await guest_token(http)}"}
    auth = {"Authorization": f"Bearer {token}"}
    await set_tool(http, ADMIN, "code_executor",
                   {"content_filter": {"require_approval_for": ["system_calls"]}})
    async with mcp_session(parlay, token) as mcp:
        paused = outcome(await mcp.call_tool(
            "code_executor", {"code": "import os\nprint('uid', os.getuid())"}))
        plain = outcome(await mcp.call_tool("code_executor", {"code": "print(2 + 2)"}))
        second = outcome(await mcp.call_tool(
            "code_executor", {"code": "import subprocess\nprint('never')"}))
    assert paused["status"] == "pending_approval" and paused["approval_id"]
    assert "stdout" not in paused["data"] and "/v1/tool-approvals/" in paused["text"]
    assert plain["status"] == "completed" and plain["data"]["stdout"] == "4\n"
    approval_id = paused["approval_id"]

    pending = (await http.get("/v1/tool-approvals", headers=auth,
                              params={"status": "pending"})).json()["data"]
    assert {a["id"] for a in pending} == {approval_id, second["approval_id"]}
    listed = next(a for a in pending if a["id"] == approval_id)
    assert listed["tool"] == "code_executor" and listed["categories"] == ["system_calls"]
    assert listed["arguments"] == {"code": "import os\nprint('uid', os.getuid())"}
    assert listed["result"] is None and listed["source"] == "mcp"

    assert_error(await http.get(f"/v1/tool-approvals/{approval_id}", headers=other), 404,
                 "approval_not_found")
    assert_error(await http.post(f"/v1/tool-approvals/{approval_id}/approve", headers=other),
                 404, "approval_not_found")

    approved = await http.post(f"/v1/tool-approvals/{approval_id}/approve", headers=auth)
    assert approved.status_code == 200, approved.text
    data = approved.json()["data"]
    assert data["status"] == "approved" and data["result"]["status"] == "completed"
    assert "uid 65534" in data["result"]["output"]
    assert_error(await http.post(f"/v1/tool-approvals/{approval_id}/approve", headers=auth),
                 409, "approval_already_decided")

    rejected = await http.post(f"/v1/tool-approvals/{second['approval_id']}/reject",
                               headers=auth)
    assert rejected.json()["data"]["status"] == "rejected"
    assert rejected.json()["data"]["result"] is None
    assert_error(await http.post(f"/v1/tool-approvals/{second['approval_id']}/approve",
                                 headers=auth), 409, "approval_already_decided")
    assert (await http.get("/v1/tool-approvals", headers=auth,
                           params={"status": "pending"})).json()["data"] == []
    assert_error(await http.get("/v1/tool-approvals/apr_nope", headers=auth), 404)


async def test_tool_calls_are_rate_limited_per_user(database_url: str,
                                                    mock_upstream: MockUpstream,
                                                    sites: dict[str, str]) -> None:
    async with live_app(database_url, mock_upstream, sites,
                        rate_limits="tools=2/min") as url, \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        await reset_builtins(http, ADMIN)
        token, other = await guest_token(http), await guest_token(http)
        async with mcp_session(url, token) as mcp:
            results = [outcome(await mcp.call_tool("code_executor", {"code": "print(1)"}))
                       for _ in range(3)]
        async with mcp_session(url, other) as mcp:
            theirs = outcome(await mcp.call_tool("code_executor", {"code": "print(1)"}))
    assert [r["status"] for r in results] == ["completed", "completed", "refused"]
    assert results[2]["error_code"] == "rate_limited" and "retry in" in results[2]["text"]
    assert theirs["status"] == "completed"


async def test_unavailable_tools_say_why(app: Any, client: httpx.AsyncClient) -> None:
    """The shared app has no search backend: web_search is listed unavailable, not faked."""
    await reset_builtins(client, ADMIN)
    admin_view = (await client.get("/v1/admin/mcp/tools/web_search", headers=ADMIN)).json()
    assert admin_view["data"]["available"] is False
    assert "PARLAY_SEARXNG_URL" in admin_view["data"]["unavailable_reason"]
    async with serve_asgi(app, lifespan="off") as url, \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        token = await guest_token(http)
        async with mcp_session(url, token) as mcp:
            listed = {t.name: t for t in (await mcp.list_tools()).tools}
            called = outcome(await mcp.call_tool("web_search", {"query": "x"}))
        catalog = (await http.get("/v1/tools", headers={"Authorization": f"Bearer {token}"}
                                  )).json()["data"]
    assert listed["web_search"].meta["parlay/available"] is False
    assert listed["web_search"].description.startswith("(Unavailable: no search backend")
    assert called["status"] == "failed" and called["error_code"] == "tool_unavailable"
    by_id = {t["id"]: t for t in catalog}
    assert by_id["web_search"]["available"] is False and by_id["web_scraper"]["available"]


async def test_browser_capability_follows_the_web_tools(http: httpx.AsyncClient) -> None:
    model = "mock-small"
    before = (await http.get(f"/v1/models/catalogs/{model}", headers=ADMIN)).json()["data"]
    patched = await http.patch(f"/v1/admin/models/catalogs/{model}", headers=ADMIN,
                               json={"capabilities": ["chat", "tools"]})
    assert patched.status_code == 200, patched.text
    try:
        browsing = (await http.get("/v1/models/catalogs", headers=ADMIN,
                                   params={"capability": "browser"})).json()["data"]
        assert model in {m["id"] for m in browsing}
        assert "mock-large" not in {m["id"] for m in browsing}  # no tools capability
        await set_tool(http, ADMIN, "web_scraper", {"enabled": False})
        without = (await http.get("/v1/models/catalogs", headers=ADMIN,
                                  params={"capability": "browser"})).json()["data"]
        assert model not in {m["id"] for m in without}
    finally:
        await http.patch(f"/v1/admin/models/catalogs/{model}", headers=ADMIN,
                         json={"capabilities": before["capabilities"]})
