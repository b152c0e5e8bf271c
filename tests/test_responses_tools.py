"""Server-side tools of /v1/responses, driven by the official `openai` SDK against a live
Parlay (uvicorn on a socket) with the loopback upstream returning tool calls: web_search (a
loopback SearXNG-shaped backend), code_interpreter (bubblewrap, for real), mcp (Parlay's own
/v1/mcp and an admin-registered MCP server built with the mcp SDK), approvals answered by
`mcp_approval_response`, streaming events checked against the SDK's own models, the loop's
limits, and a disconnect that cancels a running tool."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import openai
import pytest

from conftest import ADMIN_KEY, make_settings
from support.live import ToolUser, guest_of, tools_parlay
from support.mcp_helpers import set_tool
from support.mock_upstream import MockUpstream
from support.tool_servers import REMOTE_TOKEN, remote_mcp_app, serving

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SEARCH = {"type": "web_search"}
CODE = {"type": "code_interpreter", "container": {"type": "auto"}}


def _own_mcp(**extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "parlay", "server_url": "/v1/mcp",
            "allowed_tools": ["code_executor"], **extra}


@pytest.fixture
def user(tool_user: ToolUser) -> ToolUser:
    return tool_user



def _call(name: str, **arguments: Any) -> str:
    return f"!tool {name} {json.dumps(arguments)}"


def _kinds(body: dict[str, Any]) -> list[str]:
    return [item["type"] for item in body["output"]]


async def test_web_search(user: ToolUser, mock_upstream: MockUpstream) -> None:
    marker = secrets.token_hex(4)
    body = await user.create(tools=[SEARCH], input=_call("web_search", query=f"tomatoes {marker}"))
    assert body["status"] == "completed" and _kinds(body) == ["web_search_call", "message"]
    call = body["output"][0]
    assert call["status"] == "completed" and call["id"].startswith("ws_")
    assert call["action"]["type"] == "search" and call["action"]["query"] == f"tomatoes {marker}"
    assert call["action"]["sources"][0] == {"type": "url",
                                            "url": "https://garden.example/tomatoes"}
    assert body["output_text"] == f"tool said: {call['output']}"
    assert f"Tomato growing guide (tomatoes {marker})" in call["output"]
    assert body["tools"] == [SEARCH]
    first, second = mock_upstream.sent_with(marker)
    assert {t["function"]["name"] for t in first["tools"]} == {"web_search", "web_scraper"}
    assert second["messages"][-1]["role"] == "tool"
    # The search is history for the next response of the chain.
    marker2 = secrets.token_hex(4)
    await user.create(input=f"more {marker2}", previous_response_id=body["id"])
    [later] = mock_upstream.sent_with(marker2)
    assert [m["role"] for m in later["messages"]] == ["user", "assistant", "tool", "assistant",
                                                      "user"]
    assert later["messages"][2]["content"] == call["output"]


async def test_code_interpreter(user: ToolUser) -> None:
    body = await user.create(tools=[CODE], input=_call("code_executor", code="print(6 * 7)"))
    assert _kinds(body) == ["code_interpreter_call", "message"]
    call = body["output"][0]
    assert call["code"] == "print(6 * 7)" and call["container_id"] == "parlay"
    assert call["status"] == "completed" and "stdout:\n42\n" in call["outputs"][0]["logs"]


async def test_mcp_on_parlays_own_server(user: ToolUser, mock_upstream: MockUpstream) -> None:
    for url in ("/v1/mcp", f"{user.live.url}/v1/mcp"):
        marker = secrets.token_hex(4)
        body = await user.create(tools=[_own_mcp(server_url=url, require_approval="never")],
                                 input=_call("code_executor", code=f"print('{marker}')"))
        assert _kinds(body) == ["mcp_list_tools", "mcp_call", "message"]
        listing, call, _ = body["output"]
        assert [t["name"] for t in listing["tools"]] == ["code_executor"]
        assert listing["server_label"] == "parlay"
        assert call["name"] == "code_executor" and call["server_label"] == "parlay"
        assert call["status"] == "completed" and f"stdout:\n{marker}\n" in call["output"]
        [offered] = mock_upstream.sent_with(marker)[0]["tools"]
        assert offered["function"]["name"] == "code_executor"


async def test_mcp_on_a_registered_server(user: ToolUser) -> None:
    async with serving(remote_mcp_app()) as remote:
        url = f"{remote}/mcp"
        response = await user.http.post("/v1/admin/mcp/servers", headers=ADMIN, json={
            "name": f"rm{secrets.token_hex(3)}", "url": url, "allowed_tools": ["add", "shout"],
            "headers": {"Authorization": f"Bearer {REMOTE_TOKEN}"}})
        server = response.json()["data"]
        try:
            tool = {"type": "mcp", "server_label": "calc", "server_url": url,
                    "require_approval": {"never": {"tool_names": ["add"]}}}
            body = await user.create(tools=[tool], input=_call("add", a=2, b=3))
            listing, call, message = body["output"]
            assert sorted(t["name"] for t in listing["tools"]) == ["add", "shout"]
            assert (call["type"], call["name"], call["output"]) == ("mcp_call", "add", "5")
            assert message["content"][0]["text"] == "tool said: 5"
            # shout is not in require_approval.never: it waits for the user.
            body = await user.create(tools=[tool], input=_call("shout", text="hi"))
            assert _kinds(body) == ["mcp_list_tools", "mcp_approval_request"]
        finally:
            await user.http.delete(f"/v1/admin/mcp/servers/{server['id']}", headers=ADMIN)
    with pytest.raises(openai.BadRequestError) as refused:
        await user.create(tools=[{"type": "mcp", "server_label": "x",
                                  "server_url": "https://mcp.example.com/sse"}], input="x")
    assert refused.value.code == "mcp_server_not_allowed"
    assert refused.value.param == "tools[0].server_url"


async def test_mcp_approval_round_trip(user: ToolUser, mock_upstream: MockUpstream) -> None:
    for approve in (True, False):
        first = await user.create(tools=[_own_mcp()],
                                  input=_call("code_executor", code="print(6 * 7)"))
        assert first["status"] == "completed"
        assert _kinds(first) == ["mcp_list_tools", "mcp_approval_request"]
        request = first["output"][1]
        assert request["name"] == "code_executor" and request["server_label"] == "parlay"
        marker = secrets.token_hex(4)
        second = await user.create(
            tools=[_own_mcp()], previous_response_id=first["id"], metadata={"m": marker},
            input=[{"type": "mcp_approval_response", "approval_request_id": request["id"],
                    "approve": approve}])
        sent = mock_upstream.sent_with(request["id"])[-1]
        assert sent["messages"][-1]["role"] == "tool"
        if approve:
            assert _kinds(second) == ["mcp_call", "message"]  # listed once per chain
            call = second["output"][0]
            assert call["approval_request_id"] == request["id"]
            assert "stdout:\n42\n" in call["output"]
            assert second["output_text"] == f"tool said: {call['output']}"
        else:
            assert _kinds(second) == ["message"]
            assert second["output_text"] == "tool said: The user rejected this call; it did " \
                                            "not run."
        with pytest.raises(openai.BadRequestError) as twice:
            await user.create(tools=[_own_mcp()], previous_response_id=second["id"], input=[
                {"type": "mcp_approval_response", "approval_request_id": request["id"],
                 "approve": True}])
        assert twice.value.code == "invalid_value"


async def test_the_admins_approval_applies_whatever_the_request_says(user: ToolUser) -> None:
    await set_tool(user.http, ADMIN, "code_executor",
                   {"content_filter": {"require_approval_for": ["all"]}})
    first = await user.create(tools=[_own_mcp(require_approval="never")],
                              input=_call("code_executor", code="print(6 * 7)"))
    request = first["output"][-1]
    assert request["type"] == "mcp_approval_request" and request["id"].startswith("apr_")
    pending = await user.http.get(f"/v1/tool-approvals/{request['id']}", headers=user.headers)
    assert pending.json()["data"]["status"] == "pending"
    assert pending.json()["data"]["source"] == "responses"
    second = await user.create(
        tools=[_own_mcp(require_approval="never")], previous_response_id=first["id"],
        input=[{"type": "mcp_approval_response", "approval_request_id": request["id"],
                "approve": True}])
    call = second["output"][0]
    assert call["type"] == "mcp_call" and "stdout:\n42\n" in call["output"]
    decided = await user.http.get(f"/v1/tool-approvals/{request['id']}", headers=user.headers)
    assert decided.json()["data"]["status"] == "approved"
    # code_interpreter too: its call ends incomplete, and the request for it follows.
    body = await user.create(tools=[CODE], input=_call("code_executor", code="print(1)"))
    assert _kinds(body) == ["code_interpreter_call", "mcp_approval_request"]
    assert body["output"][0]["status"] == "incomplete"


async def test_switches_and_filters_apply(user: ToolUser) -> None:
    await set_tool(user.http, ADMIN, "web_search", {"enabled": False})
    with pytest.raises(openai.BadRequestError) as disabled:
        await user.create(tools=[SEARCH], input="x")
    assert (disabled.value.code, disabled.value.param) == ("tool_disabled", "tools[0]")
    await set_tool(user.http, ADMIN, "code_executor",
                   {"content_filter": {"disallowed_keywords": ["forbidden"]}})
    body = await user.create(tools=[CODE], input=_call("code_executor", code="'forbidden'"))
    call = body["output"][0]
    assert call["status"] == "failed" and "disallowed keyword" in call["outputs"][0]["logs"]


async def test_max_tool_calls(user: ToolUser) -> None:
    calls = _call("web_search", query="a") + ' ;; web_search {"query": "b"}'
    body = await user.create(tools=[SEARCH], max_tool_calls=1, input=calls)
    assert body["max_tool_calls"] == 1
    first, second = body["output"][:2]
    assert first["status"] == "completed" and second["status"] == "failed"
    assert "max_tool_calls (1) is reached" in body["output_text"]


async def test_streamed_events_in_order(user: ToolUser) -> None:
    events = await user.events(tools=[SEARCH], input=_call("web_search", query="tomatoes"))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.web_search_call.in_progress",
        "response.web_search_call.searching", "response.web_search_call.completed",
        "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * (len(events) - 13),
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    assert events[2]["item"]["status"] == "in_progress"
    assert events[6]["item"]["status"] == "completed" and events[7]["output_index"] == 1
    events = await user.events(tools=[CODE], input=_call("code_executor", code="print(1)"))
    assert [e["type"] for e in events[2:9]] == [
        "response.output_item.added", "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta", "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed", "response.output_item.done"]
    events = await user.events(tools=[_own_mcp(require_approval="never")],
                               input=_call("code_executor", code="print(1)"))
    assert [e["type"] for e in events[2:13]] == [
        "response.output_item.added", "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed", "response.output_item.done",
        "response.output_item.added", "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done", "response.mcp_call.in_progress",
        "response.mcp_call.completed", "response.output_item.done",
        "response.output_item.added"]
    # The SDK's own stream helper accumulates the same events into the final response.
    async with user.sdk.responses.stream(model="mock-small", tools=[CODE],  # type: ignore[list-item]
                                         input=_call("code_executor", code="print(2)")) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert "response.code_interpreter_call.interpreting" in kinds
    assert [item.type for item in final.output] == ["code_interpreter_call", "message"]
    assert final.output_text.startswith("tool said: exit status: 0")


async def test_conversation_stores_the_tool_round(user: ToolUser) -> None:
    conv = (await user.http.post("/v1/conversations", headers=user.headers,
                                 json={})).json()["data"]["id"]
    await user.create(tools=[SEARCH], conversation=conv,
                      input=_call("web_search", query="tomatoes"))
    items = (await user.http.get(f"/v1/conversations/{conv}/items",
                                 headers=user.headers)).json()["data"]
    assert [(i["type"], i["role"]) for i in items] == [
        ("message", "user"), ("function_call", "assistant"), ("function_call_output", "tool"),
        ("message", "assistant")]
    assert items[1]["content_parts"][0]["name"] == "web_search"
    assert "1. Tomato growing guide (tomatoes)" in items[2]["content"]


async def test_the_depth_limit(user: ToolUser, mock_upstream: MockUpstream) -> None:
    marker = secrets.token_hex(4)
    body = await user.create(tools=[SEARCH], input=f'!toolloop web_search {{"query": "{marker}"}}')
    assert body["status"] == "incomplete"
    assert body["incomplete_details"]["reason"] is None
    assert body["incomplete_details"]["cause"] == "step_limit"
    assert len(mock_upstream.sent_with(marker)) == 8
    assert _kinds(body) == ["web_search_call"] * 7


async def test_a_tool_timeout_ends_the_response(database_url: str, mock_upstream: MockUpstream,
                                                search_url: str) -> None:
    async with tools_parlay(make_settings, database_url, mock_upstream, search_url,
                            tool_timeout=1.0) as served, guest_of(served, ADMIN) as user:
        body = await user.create(tools=[CODE], input=_call(
            "code_executor", code="import time; time.sleep(20)"))
    assert body["status"] == "incomplete"
    assert body["incomplete_details"]["cause"] == "tool_timeout"
    call = body["output"][0]
    assert call["status"] == "failed" and "did not finish within 1 s" in call["outputs"][0]["logs"]


def _sandboxes(marker: str) -> list[int]:
    """Processes whose command line carries `marker` (the sandboxed snippet's argv)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            with contextlib.suppress(OSError):
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


async def test_a_disconnect_cancels_the_running_tool(user: ToolUser) -> None:
    marker = secrets.token_hex(6)
    code = f"import time  # {marker}\ntime.sleep(30)"
    response_id = None
    async with user.http.stream("POST", "/v1/responses", headers=user.headers, json={
            "model": "mock-small", "stream": True, "tools": [CODE],
            "input": _call("code_executor", code=code)}) as response:
        lines = response.aiter_lines()  # kept: a dropped iterator would close the stream
        async for line in lines:
            if line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                response_id = response_id or event.get("response", {}).get("id")
                if event["type"] == "response.code_interpreter_call.interpreting":
                    break
        for _ in range(300):  # the sandbox is running (the sleep outlasts this wait)
            if _sandboxes(marker):
                break
            await asyncio.sleep(0.05)
        assert _sandboxes(marker)
    for _ in range(100):  # the client left: the sandbox is killed
        if not _sandboxes(marker):
            break
        await asyncio.sleep(0.05)
    assert not _sandboxes(marker)
    for _ in range(50):
        stored = (await user.http.get(f"/v1/responses/{response_id}",
                                      headers=user.headers)).json()
        if stored["status"] != "in_progress":
            break
        await asyncio.sleep(0.1)
    assert stored["status"] == "incomplete"
    assert stored["incomplete_details"]["cause"] == "client_disconnected"
    me = (await user.http.get("/llm/auth/me", headers=user.headers)).json()["data"]
    for _ in range(50):  # the cancelled call is still one row of the tool call log
        log = (await user.http.get("/v1/admin/tool-calls", headers=ADMIN,
                                   params={"user_id": me["id"]})).json()["data"]
        if log:
            break
        await asyncio.sleep(0.1)
    assert [(c["tool"], c["status"], c["error_code"]) for c in log] == [
        ("code_executor", "failed", "cancelled")]
