"""The reply pipeline's tool loop through its seam (ToolRunner), with a tiny real tool and the
loopback upstream answering with tool calls: model -> tool calls -> results -> model, for chat
completions and conversation items, streamed and not, bounded by the step limit."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from conftest import asgi_client, make_settings, new_guest, running_app
from parlay.services.replies import ToolCall, ToolResult, ToolRunner
from support.conversations import ConversationClient
from support.mock_upstream import MockUpstream

ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two numbers.",
    "parameters": {"type": "object", "required": ["a", "b"],
                   "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}}


# How a chat completion asks for a server-side tool: by name (the runner supplies the rest).
NAMED_ADD = {"type": "function", "function": {"name": "add"}}


class AddRunner:
    """A real tool: it adds. Bad arguments are a failed result the model reads."""

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []

    def definitions(self) -> list[dict[str, Any]]:
        return [ADD]

    async def run(self, call: ToolCall) -> ToolResult:
        self.calls.append(call)
        try:
            arguments = json.loads(call.arguments)
            total = arguments["a"] + arguments["b"]
        except (ValueError, KeyError, TypeError) as exc:
            return ToolResult(call.id, f"bad arguments: {exc!r}", status="failed")
        return ToolResult(call.id, str(total), metadata={"tool": "add"})


class Tools:
    """The app's ToolRunnerFactory: one AddRunner for every request that may ask for tools
    (a chat completion with `tools` or a conversation, every conversation reply)."""

    def __init__(self) -> None:
        self.runner = AddRunner()
        self.asked = 0

    async def __call__(self, user_id: str, body: dict[str, Any]) -> ToolRunner | None:
        self.asked += 1
        return self.runner


class Env(ConversationClient):
    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], tools: Tools,
                 mock: MockUpstream, app: Any) -> None:
        super().__init__(http, headers)
        self.tools, self.mock, self.app = tools, mock, app

    def sent(self, marker: str) -> list[dict[str, Any]]:
        return [r.body for r in self.mock.chat_requests() if marker in orjson.dumps(r.body).decode()]


@pytest.fixture
async def env(database_url: str, mock_upstream: MockUpstream) -> AsyncIterator[Env]:
    settings = make_settings(database_url, openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key")
    tools = Tools()
    async with running_app(settings) as app, asgi_client(app) as http:
        app.state.ctx.replies.tools = tools  # the seam the tools package plugs into
        app.state.ctx.replies.max_steps = 3
        yield Env(http, await new_guest(http), tools, mock_upstream, app)


def _add(a: int, b: int, marker: str) -> str:
    return f'!tool add {{"a": {a}, "b": {b}, "m": "{marker}"}}'


def _events(text: str) -> list[str]:
    return [block.removeprefix("data: ") for block in text.split("\n\n") if block.strip()]


async def test_chat_completion_runs_the_tool_and_answers(env: Env) -> None:
    marker = secrets.token_hex(4)
    response = await env.http.post("/v1/chat/completions", headers=env.headers, json={
        "model": "mock-small", "tools": [NAMED_ADD],
        "messages": [{"role": "user", "content": _add(2, 3, marker)}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "tool said: 5"
    assert body["choices"][0]["finish_reason"] == "stop"
    first, second = env.sent(marker)
    assert first["tools"] == [ADD] and second["tools"] == [ADD]
    call = first_call = second["messages"][-2]["tool_calls"][0]
    assert second["messages"][-2]["role"] == "assistant"
    assert call["function"] == {"name": "add", "arguments": json.dumps(
        {"a": 2, "b": 3, "m": marker})}
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": first_call["id"],
                                      "content": "5"}
    # usage covers both model calls (the mock counts a call's words + 1, then its answer's)
    assert body["usage"]["completion_tokens"] == len(call["function"]["arguments"].split()) + 1 + 3
    assert [c.name for c in env.tools.runner.calls if marker in c.arguments] == ["add"]


async def test_streamed_chat_completion_hides_the_tool_round(env: Env) -> None:
    marker = secrets.token_hex(4)
    response = await env.http.post("/v1/chat/completions", headers=env.headers, json={
        "model": "mock-small", "stream": True, "stream_options": {"include_usage": True},
        "tools": [NAMED_ADD], "messages": [{"role": "user", "content": _add(20, 22, marker)}]})
    assert response.status_code == 200, response.text
    events = _events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks if c["choices"])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "tool said: 42"
    usage_chunks = [c for c in chunks if not c["choices"]]
    arguments = json.dumps({"a": 20, "b": 22, "m": marker})
    assert len(usage_chunks) == 1
    assert usage_chunks[0]["usage"]["completion_tokens"] == len(arguments.split()) + 1 + 3
    assert len(env.sent(marker)) == 2


async def test_conversation_stores_calls_and_results_in_order(env: Env) -> None:
    for stream in (False, True):
        conv = await env.conversation()
        marker = secrets.token_hex(4)
        response = await env.http.post(f"/v1/conversations/{conv}/items", headers=env.headers,
                                       json={"role": "user", "content": _add(1, 2, marker),
                                             "stream": stream})
        assert response.status_code == 201, response.text
        items = await env.items(conv)
        assert [(i["type"], i["role"], i["status"]) for i in items] == [
            ("message", "user", "completed"), ("function_call", "assistant", "completed"),
            ("function_call_output", "tool", "completed"), ("message", "assistant", "completed")]
        call, output, reply = items[1:]
        arguments = json.dumps({"a": 1, "b": 2, "m": marker})
        assert call["content_parts"] == [{"type": "function_call", "call_id": "call_0_0",
                                          "name": "add", "arguments": arguments}]
        assert output["content"] == "3" and output["metadata"] == {"tool": "add"}
        assert output["content_parts"][0]["call_id"] == "call_0_0"
        assert reply["content"] == "tool said: 3" and reply["metadata"] is None
        reply_id = (response.headers["x-parlay-reply-id"] if stream
                    else response.json()["reply"]["id"])
        assert reply_id == reply["id"]
        # the tool round is history for the next turn, as OpenAI chat messages
        await env.http.post(f"/v1/conversations/{conv}/items", headers=env.headers,
                            json={"role": "user", "content": f"next {marker}"})
        later = [b for b in env.sent(f"next {marker}")][-1]["messages"]
        assert [m["role"] for m in later] == ["user", "assistant", "tool", "assistant", "user"]
        assert later[1]["tool_calls"][0]["function"] == {"name": "add", "arguments": arguments}
        assert later[2] == {"role": "tool", "tool_call_id": "call_0_0", "content": "3"}
        conversation = (await env.http.get(f"/v1/conversations/{conv}",
                                           headers=env.headers)).json()["data"]
        assert conversation["item_count"] == 6


async def test_step_limit_ends_the_reply_incomplete(env: Env) -> None:
    conv = await env.conversation()
    marker = secrets.token_hex(4)
    response = await env.http.post(f"/v1/conversations/{conv}/items", headers=env.headers,
                                   json={"role": "user", "content": f'!toolloop add {{"a": 1, '
                                                                    f'"b": 1, "m": "{marker}"}}'})
    assert response.status_code == 201, response.text
    reply = response.json()["reply"]
    assert reply["status"] == "incomplete" and reply["metadata"] == {"stopped": "step_limit"}
    assert len(env.sent(marker)) == 3  # max_steps model calls, two tool rounds between
    kinds = [i["type"] for i in await env.items(conv)]
    assert kinds == ["message", *["function_call", "function_call_output"] * 2, "message"]


async def test_calls_to_the_clients_own_tools_reach_the_client(env: Env) -> None:
    marker = secrets.token_hex(4)
    lookup = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    response = await env.http.post("/v1/chat/completions", headers=env.headers, json={
        "model": "mock-small", "tools": [lookup],
        "messages": [{"role": "user", "content": f'!tool lookup {{"q": "{marker}"}}'}]})
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "lookup"
    [sent] = env.sent(marker)
    assert sent["tools"] == [lookup, ADD]  # the client's first, Parlay's after
    assert not [c for c in env.tools.runner.calls if marker in c.arguments]


async def test_failed_tool_results_go_back_to_the_model(env: Env) -> None:
    marker = secrets.token_hex(4)
    response = await env.http.post("/v1/chat/completions", headers=env.headers, json={
        "model": "mock-small", "tools": [NAMED_ADD],
        "messages": [{"role": "user", "content": f'!tool add {{"a": "{marker}"}}'}]})
    content = response.json()["choices"][0]["message"]["content"]
    assert content.startswith("tool said: bad arguments: KeyError")


async def test_regenerate_answers_from_the_stored_tool_round(env: Env) -> None:
    conv = await env.conversation()
    marker = secrets.token_hex(4)
    created = (await env.http.post(f"/v1/conversations/{conv}/items", headers=env.headers,
                                   json={"role": "user", "content": _add(4, 4, marker)})).json()
    reply_id = created["reply"]["id"]
    again = await env.http.post(f"/v1/conversations/{conv}/items/{reply_id}/regenerate",
                                headers=env.headers)
    assert again.status_code == 200, again.text
    data = again.json()["data"]
    assert (data["content"], data["version"], data["metadata"]) == ("tool said: 8", 2, None)
    assert len([c for c in env.tools.runner.calls if marker in c.arguments]) == 1  # not again
    assert len(await env.items(conv)) == 4  # replaced, no new items


async def test_tool_rounds_of_a_regenerated_reply_go_before_it_or_in_its_metadata(
        env: Env) -> None:
    conv = await env.conversation()
    marker = secrets.token_hex(4)
    loop = f'!toolloop add {{"a": 2, "b": 2, "m": "{marker}"}}'
    created = (await env.http.post(f"/v1/conversations/{conv}/items", headers=env.headers,
                                   json={"role": "user", "content": loop})).json()
    reply_id = created["reply"]["id"]
    count = len(await env.items(conv))
    # The last item: its new tool rounds are items, and the reply moves after them.
    again = await env.http.post(f"/v1/conversations/{conv}/items/{reply_id}/regenerate",
                                headers=env.headers)
    data = again.json()["data"]
    assert data["status"] == "incomplete" and data["metadata"]["stopped"] == "step_limit"
    assert "tool_calls" not in data["metadata"]
    items = await env.items(conv)
    assert len(items) == count + 4 and items[-1]["id"] == reply_id
    assert [i["type"] for i in items[-5:-1]] == ["function_call", "function_call_output"] * 2
    # Not the last item: items cannot go before it, so the rounds are in its metadata.
    await env.http.post(f"/v1/conversations/{conv}/items", headers=env.headers,
                        json={"role": "user", "content": "after", "generate": False})
    count = len(await env.items(conv))
    data = (await env.http.post(f"/v1/conversations/{conv}/items/{reply_id}/regenerate",
                                headers=env.headers)).json()["data"]
    assert data["status"] == "incomplete" and data["metadata"]["stopped"] == "step_limit"
    logged = data["metadata"]["tool_calls"]
    assert [(c["name"], c["output"], c["status"]) for c in logged] == [("add", "4", "completed")] * 2
    assert len(await env.items(conv)) == count  # items cannot go before the reply: metadata


async def test_a_streamed_regenerate_streams_its_tool_rounds(env: Env) -> None:
    conv = await env.conversation()
    marker = secrets.token_hex(4)
    loop = f'!toolloop add {{"a": 1, "b": 2, "m": "{marker}"}}'
    reply_id = (await env.say(conv, loop)).json()["reply"]["id"]
    count = len(await env.items(conv))
    url = f"/v1/conversations/{conv}/items/{reply_id}/regenerate"
    # The last item: each round's items are streamed as they are stored, before the reply.
    response = await env.http.post(url, headers=env.headers, json={"stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["x-parlay-reply-id"] == reply_id
    events = _events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    steps = [c["parlay_item"] for c in chunks if "parlay_item" in c]
    assert [(s["type"], s.get("output")) for s in steps] == [
        ("function_call", None), ("function_call_output", "3")] * 2
    assert chunks[-1]["parlay_stopped"] == "step_limit"
    assert not any(c["choices"][0]["delta"].get("tool_calls") for c in chunks if c["choices"])
    items = await env.items(conv)
    assert len(items) == count + 4 and items[-1]["id"] == reply_id
    assert [s["id"] for s in steps] == [i["id"] for i in items[-5:-1]]
    reply = items[-1]
    assert (reply["status"], reply["version"], reply["metadata"]["stopped"]) == (
        "incomplete", 2, "step_limit")
    # Not the last item: the rounds go in its metadata, and the chunks carry no item ids.
    await env.say(conv, "after", generate=False)
    response = await env.http.post(url, headers=env.headers, json={"stream": True})
    steps = [orjson.loads(e).get("parlay_item") for e in _events(response.text)[:-1]]
    assert [s["id"] for s in steps if s] == [None] * 4
    reply = next(i for i in await env.items(conv) if i["id"] == reply_id)
    assert [(c["name"], c["output"]) for c in reply["metadata"]["tool_calls"]] == [("add", "3")] * 2
    assert reply["version"] == 3


async def test_without_a_runner_a_reply_is_one_model_call(
        client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream) -> None:
    marker = secrets.token_hex(4)
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "tools": [ADD],
        "messages": [{"role": "user", "content": _add(1, 1, marker)}]})
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert len([r for r in mock_upstream.chat_requests()
                if marker in orjson.dumps(r.body).decode()]) == 1


async def test_a_plain_chat_completion_never_asks_for_tools(env: Env) -> None:
    """The gateway's hot path: no `tools`, no `conversation`, no factory call, one upstream
    call relayed as it is."""
    asked = env.tools.asked
    marker = secrets.token_hex(4)
    for stream in (False, True):
        response = await env.http.post("/v1/chat/completions", headers=env.headers, json={
            "model": "mock-small", "stream": stream,
            "messages": [{"role": "user", "content": _add(1, 1, marker)}]})
        assert response.status_code == 200, response.text
    assert env.tools.asked == asked
    assert len(env.sent(marker)) == 2
