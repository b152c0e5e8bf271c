"""Parlay's own tools in replies, for real: a live Parlay (uvicorn on a socket), the loopback
upstream answering with tool calls, web_search against a loopback SearXNG-shaped server,
code_executor in bubblewrap. Chat completions through the official SDK (streamed chunks
checked against its own models), conversation replies storing every call and result in
order, the admin's switches, filters and approvals, and the loop's limits."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from conftest import ADMIN_KEY, make_settings
from support.asserts import assert_error
from support.live import LiveParlay, ToolUser, guest_of, tools_parlay
from support.mcp_helpers import guest_token, set_tool
from support.mock_upstream import TOOL_TEXT, MockUpstream

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SEARCH = {"type": "function", "function": {"name": "web_search"}}
CODE = {"type": "function", "function": {"name": "code_executor"}}


@pytest.fixture
def user(tool_user: ToolUser) -> ToolUser:
    return tool_user



def _chunks(text: str) -> list[dict[str, Any]]:
    events = [b.removeprefix("data: ") for b in text.split("\n\n") if b.strip()]
    assert events[-1] == "[DONE]", events[-3:]
    return [orjson.loads(event) for event in events[:-1]]


def _search(marker: str) -> str:
    return f'!tool web_search {{"query": "tomatoes {marker}"}}'


def _code(code: str) -> str:
    return "!tool code_executor " + json.dumps({"code": code})


async def test_a_named_tool_runs_in_a_chat_completion(
        user: ToolUser, mock_upstream: MockUpstream) -> None:
    marker = secrets.token_hex(4)
    raw = await user.sdk.chat.completions.with_raw_response.create(
        model="mock-small", tools=[SEARCH],  # type: ignore[list-item]
        messages=[{"role": "user", "content": _search(marker)}])
    body = raw.http_response.json()
    completion = ChatCompletion.model_validate(body)
    text = completion.choices[0].message.content or ""
    assert text.startswith("tool said: ") and f"Tomato growing guide (tomatoes {marker})" in text
    assert completion.choices[0].finish_reason == "stop"
    assert not completion.choices[0].message.tool_calls
    call, output = body["parlay_items"]
    assert (call["type"], call["name"], call["id"]) == ("function_call", "web_search", None)
    assert output["type"] == "function_call_output" and output["status"] == "completed"
    assert output["call_id"] == call["call_id"] and output["output"] == text[len("tool said: "):]
    first, second = mock_upstream.sent_with(marker)
    [offered] = first["tools"]
    assert offered["function"]["name"] == "web_search"  # Parlay's description and schema
    assert offered["function"]["parameters"]["required"] == ["query"]
    assert set(offered["function"]["parameters"]["properties"]) == {"query"}
    assert second["messages"][-1]["role"] == "tool"
    assert body["usage"]["prompt_tokens"] > second["messages"][-1]["content"].count(" ")


async def test_a_streamed_chat_completion_shows_the_tool_round_as_parlay_items(
        user: ToolUser, mock_upstream: MockUpstream) -> None:
    marker = secrets.token_hex(4)
    stream = await user.sdk.chat.completions.create(
        model="mock-small", tools=[CODE], stream=True,  # type: ignore[list-item]
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": _code(f"print('{marker}')")}])
    chunks = [chunk async for chunk in stream]  # every chunk parses with the SDK
    state = ChatCompletionStreamState()
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.to_dict())  # and validates strictly
        state.handle_chunk(chunk)
    items = [chunk.model_extra["parlay_item"] for chunk in chunks
             if chunk.model_extra and "parlay_item" in chunk.model_extra]
    assert [i["type"] for i in items] == ["function_call", "function_call_output"]
    assert json.loads(items[0]["arguments"]) == {"code": f"print('{marker}')"}
    assert items[1]["status"] == "completed" and f"stdout:\n{marker}\n" in items[1]["output"]
    final = state.get_final_completion()
    assert final.choices[0].message.content == "tool said: " + items[1]["output"]
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    [usage] = [c.usage for c in chunks if c.usage is not None]
    assert usage.completion_tokens > 3  # both model steps


async def test_conversation_replies_store_calls_and_results_in_order(
        user: ToolUser, mock_upstream: MockUpstream) -> None:
    """The issue's done-criterion, streamed and not, with both built-ins the settings turn
    on (no `tools` in the request)."""
    for stream in (False, True):
        conv = await user.conversation()
        marker = secrets.token_hex(4)
        content = f'{_search(marker)} ;; code_executor {{"code": "print(6 * 7)"}}'
        response = await user.say(conv, content, stream=stream)
        assert response.status_code == 201, response.text
        items = await user.items(conv)
        assert [(i["type"], i["role"], i["status"]) for i in items] == [
            ("message", "user", "completed"),
            ("function_call", "assistant", "completed"),
            ("function_call", "assistant", "completed"),
            ("function_call_output", "tool", "completed"),
            ("function_call_output", "tool", "completed"),
            ("message", "assistant", "completed")]
        search_call, code_call, search_out, code_out, reply = items[1:]
        assert search_call["content_parts"][0]["name"] == "web_search"
        assert code_call["content_parts"][0]["name"] == "code_executor"
        assert search_out["content_parts"][0]["call_id"] == search_call["content_parts"][0][
            "call_id"]
        assert f"Tomato growing guide (tomatoes {marker})" in search_out["content"]
        assert "stdout:\n42\n" in code_out["content"]
        assert code_out["metadata"]["tool"] == "code_executor"
        assert reply["content"] == f"tool said: {search_out['content']} | {code_out['content']}"
        offered = {t["function"]["name"] for t in mock_upstream.sent_with(marker)[0]["tools"]}
        assert offered == {"web_search", "web_scraper", "code_executor"}
        if stream:
            chunks = _chunks(response.text)
            events = [c["parlay_item"] for c in chunks if "parlay_item" in c]
            assert [e["id"] for e in events] == [i["id"] for i in items[1:5]]
            assert response.headers["x-parlay-reply-id"] == reply["id"]


async def test_text_in_the_same_chunk_as_a_tool_call_reaches_the_client(
        user: ToolUser) -> None:
    """A chunk carrying both text and the first piece of a call to Parlay's tool: the text is
    streamed, the call is not (and the text is stored as the step's own message)."""
    conv = await user.conversation()
    marker = secrets.token_hex(4)
    response = await user.http.post("/v1/chat/completions", headers=user.headers, json={
        "model": "mock-small", "conversation": conv, "stream": True,
        "messages": [{"role": "user", "content": _search(marker).replace("!tool", "!tooltext")}]})
    chunks = _chunks(response.text)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith(TOOL_TEXT + "tool said: ")
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks if c["choices"])
    items = await user.items(conv)
    assert [(i["type"], i["content"][:13]) for i in items[:3]] == [
        ("message", "!tooltext web"), ("message", TOOL_TEXT), ("function_call", '{"query": "to')]


async def test_a_chat_completion_with_a_conversation_stores_the_round(user: ToolUser) -> None:
    conv = await user.conversation()
    response = await user.http.post("/v1/chat/completions", headers=user.headers, json={
        "model": "mock-small", "conversation": conv, "stream": True,
        "messages": [{"role": "user", "content": _code("print(1 + 1)")}]})
    assert response.status_code == 200, response.text
    events = [c["parlay_item"] for c in _chunks(response.text) if "parlay_item" in c]
    items = await user.items(conv)
    assert [i["type"] for i in items] == ["message", "function_call", "function_call_output",
                                          "message"]
    assert [e["id"] for e in events] == [items[1]["id"], items[2]["id"]]
    assert items[-1]["id"] == response.headers["x-parlay-reply-id"]


async def test_a_disabled_tool_is_refused(user: ToolUser, mock_upstream: MockUpstream) -> None:
    await set_tool(user.http, ADMIN, "code_executor", {"enabled": False, "reason": "audit"})
    named = await user.http.post("/v1/chat/completions", headers=user.headers, json={
        "model": "mock-small", "tools": [CODE], "messages": [{"role": "user", "content": "x"}]})
    assert "audit" in assert_error(named, 400, "tool_disabled")["message"]
    # Turned on by settings in a conversation: not offered, and a call to it is refused.
    conv = await user.conversation()
    marker = secrets.token_hex(4)
    response = await user.say(conv, _code(f"print('{marker}')"))
    reply = response.json()["reply"]
    assert reply["content"].startswith("tool said: code_executor is not one of the tools")
    first = mock_upstream.sent_with(marker)[0]
    assert "code_executor" not in {t["function"]["name"] for t in first["tools"]}
    output = (await user.items(conv))[2]
    assert output["content_parts"][0]["status"] == "refused" and output["status"] == "failed"
    assert output["metadata"]["error_code"] == "tool_not_offered"


async def test_a_named_tool_needs_the_users_switch(tools_live: LiveParlay) -> None:
    async with httpx.AsyncClient(base_url=tools_live.url) as http:
        token = await guest_token(http, tools_on=False)
        response = await http.post("/v1/chat/completions", headers={
            "Authorization": f"Bearer {token}"}, json={
            "model": "mock-small", "tools": [SEARCH],
            "messages": [{"role": "user", "content": "x"}]})
    error = assert_error(response, 400, "tool_not_enabled_for_user")
    assert "web_search_enabled" in error["message"] and error["param"] == "tools"


async def test_a_keyword_filter_refuses_the_call(user: ToolUser,
                                                 mock_upstream: MockUpstream) -> None:
    await set_tool(user.http, ADMIN, "code_executor",
                   {"content_filter": {"disallowed_keywords": ["forbidden"]}})
    conv = await user.conversation()
    response = await user.say(conv, _code("print('forbidden fruit')"))
    reply = response.json()["reply"]
    assert reply["status"] == "completed"
    assert "disallowed keyword 'forbidden'" in reply["content"]  # the model read the refusal
    output = (await user.items(conv))[2]
    assert output["content_parts"][0]["status"] == "refused"
    assert output["metadata"]["error_code"] == "tool_content_blocked"
    # The refused round stays in the history the next turn sends, call and output together.
    marker = secrets.token_hex(4)
    await user.say(conv, f"next {marker}")
    [sent] = mock_upstream.sent_with(f"next {marker}")
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "assistant",
                                                     "user"]
    assert sent["messages"][2]["content"] == output["content"]


async def test_an_approval_stops_the_reply_and_continue_resumes_it(user: ToolUser) -> None:
    await set_tool(user.http, ADMIN, "code_executor",
                   {"content_filter": {"require_approval_for": ["all"]}})
    # Without a conversation: the answer says it stopped, and carries no call to run.
    plain = await user.http.post("/v1/chat/completions", headers=user.headers, json={
        "model": "mock-small", "tools": [CODE],
        "messages": [{"role": "user", "content": _code("print(1)")}]})
    body = plain.json()
    assert body["parlay_stopped"] == "pending_approval"
    assert body["choices"][0]["finish_reason"] == "length"
    assert "tool_calls" not in body["choices"][0]["message"]
    assert body["parlay_items"][-1]["status"] == "pending_approval"
    for decision in ("approve", "reject"):
        conv = await user.conversation()
        response = await user.say(conv, _code("print(6 * 7)"), stream=True)
        assert response.status_code == 201, response.text
        pending = [c["parlay_item"] for c in _chunks(response.text) if "parlay_item" in c][-1]
        assert pending["status"] == "pending_approval" and pending["approval_id"]
        finish = [c for c in _chunks(response.text) if c.get("parlay_stopped")]
        assert finish[0]["parlay_stopped"] == "pending_approval"
        assert finish[0]["choices"][0]["finish_reason"] == "length"
        items = await user.items(conv)
        output, reply = items[2], items[3]
        assert output["status"] == "incomplete" and output["id"] == pending["id"]
        assert output["metadata"]["approval_id"] == pending["approval_id"]
        assert reply["status"] == "incomplete"
        assert reply["metadata"] == {"stopped": "pending_approval", "approvals": [
            {"approval_id": pending["approval_id"], "call_id": output["content_parts"][0][
                "call_id"], "item_id": output["id"]}]}
        regenerate = f"/v1/conversations/{conv}/items/{reply['id']}/regenerate"
        early = await user.http.post(regenerate, headers=user.headers)
        assert_error(early, 409, "approval_pending")
        decided = await user.http.post(
            f"/v1/tool-approvals/{pending['approval_id']}/{decision}", headers=user.headers)
        assert decided.status_code == 200, decided.text
        resumed = await user.http.post(regenerate, headers=user.headers)
        assert resumed.status_code == 200, resumed.text
        data = resumed.json()["data"]
        items = await user.items(conv)
        output = items[2]
        assert data["status"] == "completed" and data["id"] == items[-1]["id"]
        if decision == "approve":
            assert "stdout:\n42\n" in output["content"] and output["status"] == "completed"
        else:
            assert output["content"].startswith("The user rejected this call")
            assert output["metadata"]["error_code"] == "approval_rejected"
        assert data["content"] == f"tool said: {output['content']}"


async def test_a_streamed_continue_streams_the_tool_steps_after_the_approval(
        user: ToolUser) -> None:
    """Continue (regenerate) with `stream: true`: the model's next tool round after the
    approved call streams as `parlay_item` chunks, then the answer."""
    await set_tool(user.http, ADMIN, "code_executor",
                   {"content_filter": {"require_approval_for": ["all"]}})
    conv = await user.conversation()
    marker = secrets.token_hex(4)
    chain = (f'!toolchain code_executor {{"code": "print(6 * 7)"}} >> '
             f'web_search {{"query": "tomatoes {marker}"}}')
    first = await user.say(conv, chain, stream=True)
    pending = [c["parlay_item"] for c in _chunks(first.text) if "parlay_item" in c][-1]
    assert pending["status"] == "pending_approval"
    reply_id = first.headers["x-parlay-reply-id"]
    regenerate = f"/v1/conversations/{conv}/items/{reply_id}/regenerate"
    early = await user.http.post(regenerate, headers=user.headers, json={"stream": True})
    assert_error(early, 409, "approval_pending")  # JSON, not a stream
    decided = await user.http.post(f"/v1/tool-approvals/{pending['approval_id']}/approve",
                                   headers=user.headers)
    assert decided.status_code == 200, decided.text
    resumed = await user.http.post(regenerate, headers=user.headers, json={"stream": True})
    assert resumed.status_code == 200, resumed.text
    assert resumed.headers["content-type"].startswith("text/event-stream")
    assert resumed.headers["x-parlay-reply-id"] == reply_id
    chunks = _chunks(resumed.text)
    steps = [c["parlay_item"] for c in chunks if "parlay_item" in c]
    assert [(s["type"], s.get("name"), s.get("status")) for s in steps] == [
        ("function_call", "web_search", None), ("function_call_output", None, "completed")]
    assert f"Tomato growing guide (tomatoes {marker})" in steps[1]["output"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == f"tool said: {steps[1]['output']}"
    items = await user.items(conv)
    assert [(i["type"], i["status"]) for i in items] == [
        ("message", "completed"), ("function_call", "completed"),
        ("function_call_output", "completed"), ("function_call", "completed"),
        ("function_call_output", "completed"), ("message", "completed")]
    assert "stdout:\n42\n" in items[2]["content"]  # the approved call's result
    assert [s["id"] for s in steps] == [items[3]["id"], items[4]["id"]]
    reply = items[-1]
    assert (reply["id"], reply["version"], reply["content"]) == (reply_id, 2, text)
    assert reply["versions"][0]["metadata"]["stopped"] == "pending_approval"


async def test_the_step_limit_ends_the_reply(user: ToolUser, mock_upstream: MockUpstream) -> None:
    conv = await user.conversation()
    marker = secrets.token_hex(4)
    response = await user.say(conv, f'!toolloop web_search {{"query": "{marker}"}}')
    reply = response.json()["reply"]
    assert reply["status"] == "incomplete" and reply["metadata"] == {"stopped": "step_limit"}
    assert len(mock_upstream.sent_with(marker)) == 8  # jan-server's depth: 8 model calls
    items = await user.items(conv)
    assert len(items) == 1 + 7 * 2 + 1


async def test_a_tool_timeout_ends_the_reply(database_url: str, mock_upstream: MockUpstream,
                                             search_url: str) -> None:
    async with tools_parlay(make_settings, database_url, mock_upstream, search_url,
                            tool_timeout=1.0) as served, guest_of(served, ADMIN) as user:
        conv = await user.conversation()
        response = await user.say(conv, _code("import time; time.sleep(20)"))
        reply = response.json()["reply"]
        assert reply["status"] == "incomplete" and reply["metadata"] == {"stopped": "tool_timeout"}
        items = await user.items(conv)
        assert items[2]["metadata"]["error_code"] == "tool_timeout"
        assert "did not finish within 1 s" in items[2]["content"]
