"""Admin MCP tools: the seed requests verbatim, filters, partial PATCH, validation, audit,
and 403 for non-admins on every admin route."""

from __future__ import annotations

import httpx
import pytest

from parlay.tools.filters import ContentFilter, FilterError, clean_keywords
from support.asserts import assert_error

ADMIN_ROUTES = [
    ("GET", "/v1/admin/mcp/tools", None),
    ("GET", "/v1/admin/mcp/tools/web_search", None),
    ("PATCH", "/v1/admin/mcp/tools/web_search", {"enabled": False}),
    ("GET", "/v1/admin/users", None),
    ("PATCH", "/v1/admin/users/usr_admin", {"disabled": True}),
    ("GET", "/v1/admin/audit", None),
]


async def _tool(client: httpx.AsyncClient, admin: dict, tool_id: str) -> dict:
    response = await client.get(f"/v1/admin/mcp/tools/{tool_id}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _audit_for(client: httpx.AsyncClient, admin: dict, tool_id: str) -> list[dict]:
    response = await client.get("/v1/admin/audit", headers=admin,
                                params={"target_type": "mcp_tool", "target_id": tool_id})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_seed_list_tools(client: httpx.AsyncClient, admin: dict) -> None:
    response = await client.get("http://localhost:8000/v1/admin/mcp/tools", headers=admin)
    assert response.status_code == 200, response.text
    tools = response.json()["data"]
    by_id = {tool["id"]: tool for tool in tools}
    assert {"web_search", "web_scraper", "code_executor"} <= set(by_id)
    for tool in tools:
        assert set(tool) >= {"id", "name", "description", "category", "enabled", "reason",
                             "content_filter", "updated_at", "updated_by"}
        assert set(tool["content_filter"]) == {"disallowed_keywords", "require_approval_for"}
        assert tool["name"] and tool["description"]
        print(f"- {tool['name']}: {'✓ Enabled' if tool['enabled'] else '✗ Disabled'}")
    assert by_id["web_search"]["category"] == "web"
    assert by_id["web_scraper"]["category"] == "web"
    assert by_id["code_executor"]["category"] == "code"


async def test_seed_disable_tool(client: httpx.AsyncClient, admin: dict) -> None:
    admin_headers = admin
    tool_id = "web_scraper"
    before = await _tool(client, admin, tool_id)
    response = await client.patch(
        f"http://localhost:8000/v1/admin/mcp/tools/{tool_id}",
        json={
            "enabled": False,
            "reason": "Safety review"
        },
        headers=admin_headers
    )
    assert response.status_code == 200, response.text
    tool = response.json()["data"]
    assert tool["name"] == "Web Scraper"
    assert tool["enabled"] is False and tool["reason"] == "Safety review"
    assert tool["updated_by"] == "usr_admin"
    assert tool["content_filter"] == before["content_filter"]
    assert (await _tool(client, admin, tool_id))["enabled"] is False
    disabled = await client.get("/v1/admin/mcp/tools", params={"enabled": "false"}, headers=admin)
    assert tool_id in {t["id"] for t in disabled.json()["data"]}
    enabled = await client.get("/v1/admin/mcp/tools", params={"enabled": "true"}, headers=admin)
    assert tool_id not in {t["id"] for t in enabled.json()["data"]}
    # back on for the rest of the suite; reason left out keeps its value
    again = await client.patch(f"/v1/admin/mcp/tools/{tool_id}", json={"enabled": True},
                               headers=admin)
    assert again.json()["data"]["enabled"] is True
    assert again.json()["data"]["reason"] == "Safety review"


async def test_seed_update_content_filter(client: httpx.AsyncClient, admin: dict) -> None:
    admin_headers = admin
    tool_id = "code_executor"
    before = await _tool(client, admin, tool_id)
    response = await client.patch(
        f"http://localhost:8000/v1/admin/mcp/tools/{tool_id}",
        json={
            "content_filter": {
                "disallowed_keywords": [
                    "rm -rf",
                    "drop table",
                    "delete from"
                ],
                "require_approval_for": ["system_calls"]
            }
        },
        headers=admin_headers
    )
    assert response.status_code == 200, response.text
    updated_tool = response.json()["data"]
    assert updated_tool["content_filter"] == {
        "disallowed_keywords": ["rm -rf", "drop table", "delete from"],
        "require_approval_for": ["system_calls"],
    }
    assert updated_tool["enabled"] == before["enabled"]
    assert updated_tool["reason"] == before["reason"]
    # partial inside the filter: the other list keeps its value
    partial = await client.patch(f"/v1/admin/mcp/tools/{tool_id}", headers=admin,
                                 json={"content_filter": {"disallowed_keywords": ["rm -rf"]}})
    assert partial.json()["data"]["content_filter"] == {
        "disallowed_keywords": ["rm -rf"], "require_approval_for": ["system_calls"]}


async def test_tool_change_writes_audit_row(client: httpx.AsyncClient, admin: dict) -> None:
    await client.patch("/v1/admin/mcp/tools/web_search", headers=admin,
                       json={"enabled": True, "reason": None})
    response = await client.patch("/v1/admin/mcp/tools/web_search", headers=admin,
                                  json={"enabled": False, "reason": "Quota exceeded"})
    assert response.status_code == 200
    entry = (await _audit_for(client, admin, "web_search"))[0]
    assert entry["actor_id"] == "usr_admin"
    assert entry["action"] == "mcp_tool.update"
    assert entry["target_type"] == "mcp_tool" and entry["target_id"] == "web_search"
    assert entry["changes"] == {"before": {"enabled": True, "reason": None},
                                "after": {"enabled": False, "reason": "Quota exceeded"}}
    assert entry["created_at"]
    await client.patch("/v1/admin/mcp/tools/web_search", headers=admin,
                       json={"enabled": True, "reason": None})
    newest = (await _audit_for(client, admin, "web_search"))[0]
    assert newest["changes"]["after"] == {"enabled": True, "reason": None}
    assert newest["id"] != entry["id"]


async def test_noop_patch_writes_no_audit_row(client: httpx.AsyncClient, admin: dict) -> None:
    current = await _tool(client, admin, "web_search")
    count = len(await _audit_for(client, admin, "web_search"))
    response = await client.patch("/v1/admin/mcp/tools/web_search", headers=admin,
                                  json={"enabled": current["enabled"]})
    assert response.status_code == 200
    assert response.json()["data"]["updated_at"] == current["updated_at"]
    assert len(await _audit_for(client, admin, "web_search")) == count


async def test_keywords_are_trimmed_and_deduplicated(client: httpx.AsyncClient,
                                                     admin: dict) -> None:
    response = await client.patch("/v1/admin/mcp/tools/web_search", headers=admin, json={
        "content_filter": {"disallowed_keywords": ["  Secret ", "SECRET", "two   words"],
                           "require_approval_for": ["System_Calls", "system_calls"]}})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["content_filter"] == {
        "disallowed_keywords": ["Secret", "two words"], "require_approval_for": ["system_calls"]}
    await client.patch("/v1/admin/mcp/tools/web_search", headers=admin, json={
        "content_filter": {"disallowed_keywords": [], "require_approval_for": []}})


@pytest.mark.parametrize(("body", "param"), [
    ({"content_filter": {"disallowed_keywords": ["ok", "   "]}},
     "content_filter.disallowed_keywords.1"),
    ({"content_filter": {"disallowed_keywords": [""]}}, "content_filter.disallowed_keywords.0"),
    ({"content_filter": {"disallowed_keywords": [42]}}, "content_filter.disallowed_keywords.0"),
    ({"content_filter": {"disallowed_keywords": ["x" * 201]}},
     "content_filter.disallowed_keywords.0"),
    ({"content_filter": {"disallowed_keywords": ["bad\u0000byte"]}},
     "content_filter.disallowed_keywords.0"),
    ({"content_filter": {"disallowed_keywords": [f"k{i}" for i in range(201)]}},
     "content_filter.disallowed_keywords"),
    ({"content_filter": {"disallowed_keywords": "rm -rf"}}, "content_filter.disallowed_keywords"),
    ({"content_filter": {"require_approval_for": ["system calls!"]}},
     "content_filter.require_approval_for.0"),
    ({"content_filter": {"require_approval_for": ["all", "file_access"]}},
     "content_filter.require_approval_for.1"),
    ({"content_filter": {"blocked": ["x"]}}, "content_filter.blocked"),
    ({"enabled": "no"}, "enabled"),
    ({"enabled": 0}, "enabled"),
    ({"reason": "x" * 501}, "reason"),
    ({"name": "Renamed"}, "name"),
])
async def test_bad_tool_patch_is_422(client: httpx.AsyncClient, admin: dict, body: dict,
                                     param: str) -> None:
    before = await _tool(client, admin, "code_executor")
    response = await client.patch("/v1/admin/mcp/tools/code_executor", json=body, headers=admin)
    assert assert_error(response, 422)["param"] == param
    assert await _tool(client, admin, "code_executor") == before


async def test_unknown_tool_is_404(client: httpx.AsyncClient, admin: dict) -> None:
    assert_error(await client.get("/v1/admin/mcp/tools/nope", headers=admin), 404,
                 "tool_not_found")
    assert_error(await client.patch("/v1/admin/mcp/tools/nope", json={"enabled": False},
                                    headers=admin), 404, "tool_not_found")


async def test_category_filter(client: httpx.AsyncClient, admin: dict) -> None:
    code = (await client.get("/v1/admin/mcp/tools", params={"category": "code"},
                             headers=admin)).json()["data"]
    assert [t["id"] for t in code] == ["code_executor"]
    web = (await client.get("/v1/admin/mcp/tools?category=web", headers=admin)).json()["data"]
    assert {t["id"] for t in web} == {"web_search", "web_scraper"}
    none = await client.get("/v1/admin/mcp/tools?category=other", headers=admin)
    assert none.status_code == 200 and none.json()["data"] == []
    assert_error(await client.get("/v1/admin/mcp/tools?enabled=maybe", headers=admin), 422)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_guest_gets_403_on_every_admin_route(client: httpx.AsyncClient, guest: dict,
                                                   method: str, path: str, body) -> None:
    response = await client.request(method, path, json=body, headers=guest)
    assert_error(response, 403, "admin_required")
    assert_error(await client.request(method, path, json=body), 401)


async def test_registered_user_is_also_refused(client: httpx.AsyncClient) -> None:
    import secrets
    reg = await client.post("/llm/auth/register", json={
        "email": f"u-{secrets.token_hex(5)}@example.com", "password": "password1"})
    headers = {"Authorization": f"Bearer {reg.json()['access_token']}"}
    assert_error(await client.get("/v1/admin/mcp/tools", headers=headers), 403)


def test_filter_matches_case_and_whitespace_insensitively() -> None:
    flt = ContentFilter(("rm -rf", "DROP TABLE", "delete from"), ("system_calls",))
    assert flt.matches("please run RM -RF / now") == ["rm -rf"]
    assert flt.matches("drop\n  table users; DELETE FROM x") == ["DROP TABLE", "delete from"]
    assert flt.matches("select * from t") == []
    assert ContentFilter().matches("anything") == []
    assert flt.approval_reasons({"all", "system_calls"}) == ["system_calls"]
    assert flt.approval_reasons({"all", "network"}) == []


def test_clean_keywords() -> None:
    assert clean_keywords([" a ", "A", "b  c"]) == ["a", "b c"]
    with pytest.raises(FilterError):
        clean_keywords(["ok", ""])


async def test_seeding_again_keeps_admin_choices(client: httpx.AsyncClient, admin: dict,
                                                 app) -> None:
    from parlay.services.tools import ensure_builtin_tools

    await client.patch("/v1/admin/mcp/tools/web_scraper", headers=admin, json={
        "enabled": False, "reason": "kept across restarts",
        "content_filter": {"disallowed_keywords": ["internal.example"]}})
    before = (await client.get("/v1/admin/mcp/tools", headers=admin)).json()["data"]
    async with app.state.ctx.sessionmaker() as session:
        await ensure_builtin_tools(session)
        await ensure_builtin_tools(session)
    after = (await client.get("/v1/admin/mcp/tools", headers=admin)).json()["data"]
    assert after == before
    scraper = await _tool(client, admin, "web_scraper")
    assert scraper["enabled"] is False and scraper["reason"] == "kept across restarts"
    assert scraper["content_filter"]["disallowed_keywords"] == ["internal.example"]
    await client.patch("/v1/admin/mcp/tools/web_scraper", headers=admin, json={
        "enabled": True, "reason": None, "content_filter": {"disallowed_keywords": []}})
