"""Per-user tool switches (`advanced_settings.disabled_tools`), for real: a live Parlay
(uvicorn on a socket) with an admin-registered external MCP server (built with the mcp SDK,
on loopback). A user turns off one tool, an external one or one built-in of a pair, and it
is gone for them alone: not listed over /v1/mcp (the SDK client), refused when called,
shown off in /v1/tools, not offered in replies or by the Responses API, while another user
keeps it; the list without it, or null, brings it back."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from conftest import ADMIN_KEY
from support.asserts import assert_error
from support.live import LiveParlay, ToolUser
from support.mcp_helpers import guest_token, mcp_session, outcome
from support.mock_upstream import MockUpstream
from support.tool_servers import REMOTE_TOKEN, remote_mcp_app, serving

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
async def remote() -> AsyncIterator[str]:
    async with serving(remote_mcp_app()) as url:
        yield f"{url}/mcp"


@contextlib.asynccontextmanager
async def registered(http: httpx.AsyncClient, remote: str) -> AsyncIterator[str]:
    """An external MCP server registered for the test; its name (tools: <name>__add, __shout)."""
    response = await http.post("/v1/admin/mcp/servers", headers=ADMIN, json={
        "name": f"rm{secrets.token_hex(3)}", "url": remote, "allowed_tools": ["add", "shout"],
        "headers": {"Authorization": f"Bearer {REMOTE_TOKEN}"}})
    assert response.status_code == 201, response.text
    server = response.json()["data"]
    try:
        yield server["name"]
    finally:
        await http.delete(f"/v1/admin/mcp/servers/{server['id']}", headers=ADMIN)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _turn_off(http: httpx.AsyncClient, token: str, tools: list[str] | None) -> list[str]:
    response = await http.patch("/v1/users/me/settings", headers=_bearer(token),
                                json={"advanced_settings": {"disabled_tools": tools}})
    assert response.status_code == 200, response.text
    return response.json()["data"]["advanced_settings"]["disabled_tools"]


async def _over_mcp(url: str, token: str, name: str) -> tuple[set[str], dict[str, Any]]:
    """The tools /v1/mcp lists for the user, and the outcome of calling `name` (add 2 + 40)."""
    async with mcp_session(url, token) as mcp:
        listed = {tool.name for tool in (await mcp.list_tools()).tools}
        called = outcome(await mcp.call_tool(name, {"a": 2, "b": 40}))
    return listed, called


async def _catalog(http: httpx.AsyncClient, token: str) -> dict[str, dict[str, Any]]:
    response = await http.get("/v1/tools", headers=_bearer(token))
    assert response.status_code == 200, response.text
    return {tool["id"]: tool for tool in response.json()["data"]}


async def test_mcp_and_the_catalog_follow_each_users_switches(tools_live: LiveParlay,
                                                              remote: str) -> None:
    url = tools_live.url
    async with httpx.AsyncClient(base_url=url, timeout=60) as http, \
            registered(http, remote) as name:
        add, shout = f"{name}__add", f"{name}__shout"
        mine, theirs = await guest_token(http), await guest_token(http)
        assert await _turn_off(http, mine, [add, "web_scraper"]) == [add, "web_scraper"]
        listed, refused = await _over_mcp(url, mine, add)
        their_list, theirs_ran = await _over_mcp(url, theirs, add)
        assert add not in listed and "web_scraper" not in listed
        assert {shout, "web_search", "code_executor"} <= listed  # web_search stays
        assert (refused["status"], refused["error_code"]) == ("refused",
                                                              "tool_not_enabled_for_user")
        assert "advanced_settings.disabled_tools" in refused["text"]
        assert {add, "web_scraper"} <= their_list and theirs_ran["text"] == "42"

        catalog = await _catalog(http, mine)
        assert catalog[add]["enabled_for_user"] is False
        assert catalog[add]["user_disabled_by"] == ["advanced_settings.disabled_tools"]
        assert catalog[shout]["enabled_for_user"] is True
        assert catalog[shout]["user_disabled_by"] == []
        assert catalog["web_search"]["enabled_for_user"] is True
        assert catalog["web_scraper"]["enabled_for_user"] is False
        assert (await _catalog(http, theirs))[add]["enabled_for_user"] is True

        assert await _turn_off(http, mine, ["web_scraper"]) == ["web_scraper"]  # add is back
        listed, added = await _over_mcp(url, mine, add)
        assert add in listed and "web_scraper" not in listed and added["text"] == "42"
        assert await _turn_off(http, mine, None) == []  # null: the default, nothing off
        listed, _ = await _over_mcp(url, mine, add)
        assert {add, "web_scraper"} <= listed


async def test_the_refusal_names_every_switch_that_is_off(tools_live: LiveParlay) -> None:
    async with httpx.AsyncClient(base_url=tools_live.url, timeout=60) as http:
        token = await guest_token(http, tools_on=False)
        await _turn_off(http, token, ["code_executor"])
        code = (await _catalog(http, token))["code_executor"]
        async with mcp_session(tools_live.url, token) as mcp:
            refused = outcome(await mcp.call_tool("code_executor", {"code": "print(1)"}))
    assert code["user_disabled_by"] == ["advanced_settings.code_execution_enabled",
                                        "advanced_settings.disabled_tools"]
    assert refused["error_code"] == "tool_not_enabled_for_user"
    assert ("turn on advanced_settings.code_execution_enabled and take it out of "
            "advanced_settings.disabled_tools") in refused["text"]


def _named(name: str, content: str) -> dict[str, Any]:
    return {"model": "mock-small", "tools": [{"type": "function", "function": {"name": name}}],
            "messages": [{"role": "user", "content": content}]}


async def test_replies_leave_out_what_the_user_turned_off(
        tool_user: ToolUser, remote: str, mock_upstream: MockUpstream) -> None:
    user, http = tool_user, tool_user.http
    await _turn_off(http, user.token, ["web_scraper"])
    conv = await user.conversation()
    marker = secrets.token_hex(4)
    assert (await user.say(conv, f"hello {marker}")).status_code == 201
    offered = {t["function"]["name"] for t in mock_upstream.sent_with(marker)[0]["tools"]}
    assert offered == {"web_search", "code_executor"}
    named = await http.post("/v1/chat/completions", headers=user.headers,
                            json=_named("web_scraper", "read a page"))
    error = assert_error(named, 400, "tool_not_enabled_for_user")
    assert "advanced_settings.disabled_tools" in error["message"] and error["param"] == "tools"

    async with registered(http, remote) as name:
        add = f"{name}__add"
        request = _named(add, f"!tool {add} " + json.dumps({"a": 2, "b": 40}))
        await _turn_off(http, user.token, [add])
        assert_error(await http.post("/v1/chat/completions", headers=user.headers,
                                     json=request), 400, "tool_not_enabled_for_user")
        theirs = await http.post("/v1/chat/completions", json=request,
                                 headers=_bearer(await guest_token(http)))
        assert theirs.json()["choices"][0]["message"]["content"] == "tool said: 42"
        await _turn_off(http, user.token, None)
        mine = await http.post("/v1/chat/completions", headers=user.headers, json=request)
        assert mine.json()["choices"][0]["message"]["content"] == "tool said: 42"


async def test_responses_offer_only_what_the_user_left_on(
        tool_user: ToolUser, tools_live: LiveParlay, remote: str,
        mock_upstream: MockUpstream) -> None:
    user = tool_user
    await _turn_off(user.http, user.token, ["web_scraper", "code_executor"])
    marker = secrets.token_hex(4)
    await user.create(tools=[{"type": "web_search"}], input=f"hello {marker}")
    offered = {t["function"]["name"] for t in mock_upstream.sent_with(marker)[0]["tools"]}
    assert offered == {"web_search"}
    with pytest.raises(openai.BadRequestError) as refused:
        await user.create(tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
                          input="x")
    assert (refused.value.code, refused.value.param) == ("tool_not_enabled_for_user",
                                                         "tools[0]")
    own = await user.create(tools=[{"type": "mcp", "server_label": "parlay",
                                    "server_url": "/v1/mcp", "require_approval": "never"}],
                            input="which tools?")
    names = {tool["name"] for tool in own["output"][0]["tools"]}
    assert "web_search" in names and not names & {"web_scraper", "code_executor"}

    async with registered(user.http, remote) as name:
        await _turn_off(user.http, user.token, [f"{name}__add"])
        tool = {"type": "mcp", "server_label": "calc", "server_url": remote,
                "require_approval": "never"}
        call = "!tool add " + json.dumps({"a": 2, "b": 3})
        mine = await user.create(tools=[tool], input=call)
        assert [t["name"] for t in mine["output"][0]["tools"]] == ["shout"]
        assert "mcp_call" not in [item["type"] for item in mine["output"]]
        assert "add is not one of the tools of this reply" in mine["output_text"]
        _token, sdk = await tools_live.guest()
        theirs = (await sdk.responses.with_raw_response.create(
            model="mock-small", tools=[tool], input=call)).http_response.json()  # type: ignore[list-item]
        listing, ran = theirs["output"][:2]
        assert sorted(t["name"] for t in listing["tools"]) == ["add", "shout"]
        assert (ran["type"], ran["output"]) == ("mcp_call", "5")
