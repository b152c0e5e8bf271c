"""POST/GET/DELETE /v1/responses and input items, driven by the official `openai` SDK over a
real socket, with the loopback mock upstream: plain text, previous_response_id chains,
function tools, conversations, failures, ownership and storage rules."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.responses import Response, ResponseItemList
from sqlalchemy import delete

from conftest import make_settings
from parlay.db.models.accounts import User
from parlay.db.models.responses import StoredResponse
from support.live import LiveParlay, live_parlay, mock_settings
from support.mock_upstream import MockUpstream

WEATHER = {"type": "function", "name": "get_weather", "description": "weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}


@pytest.fixture(scope="module")
async def live(database_url: str, mock_upstream: MockUpstream) -> AsyncIterator[LiveParlay]:
    async with live_parlay(mock_settings(make_settings, database_url, mock_upstream)) as served:
        yield served


async def _raw(sdk: openai.AsyncOpenAI, **params: Any) -> dict[str, Any]:
    """The JSON Parlay answered, checked against the SDK's own (strict) Response model."""
    raw = await sdk.responses.with_raw_response.create(**params)
    body = raw.http_response.json()
    Response.model_validate(body)
    return body


def _sent(mock: MockUpstream, marker: str) -> list[dict[str, Any]]:
    return [r.body for r in mock.chat_requests() if marker in orjson.dumps(r.body).decode()]


async def test_plain_text(live: LiveParlay, mock_upstream: MockUpstream) -> None:
    _token, sdk = await live.guest()
    marker = secrets.token_hex(4)
    body = await _raw(sdk, model="mock-small", input=f"hello {marker}",
                      instructions="be brief", temperature=0.3, top_p=0.9,
                      max_output_tokens=50, metadata={"k": "v"}, parallel_tool_calls=False)
    assert body["object"] == "response" and body["id"].startswith("resp_")
    assert body["status"] == "completed" and body["error"] is None
    assert body["output_text"] == f"echo: hello {marker}"
    [message] = body["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["text"] == f"echo: hello {marker}"
    assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] == 3
    assert body["usage"]["total_tokens"] == (body["usage"]["input_tokens"]
                                             + body["usage"]["output_tokens"])
    assert body["metadata"] == {"k": "v"} and body["temperature"] == 0.3
    [sent] = _sent(mock_upstream, marker)
    assert sent["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": f"hello {marker}"}]
    assert sent["temperature"] == 0.3 and sent["top_p"] == 0.9 and sent["max_tokens"] == 50
    assert "input" not in sent and "instructions" not in sent and "metadata" not in sent
    assert "parallel_tool_calls" not in sent and "tools" not in sent  # no tools, no options
    response = await sdk.responses.create(model="mock-small", input="via the SDK")
    assert response.output_text == "echo: via the SDK"
    again = await sdk.responses.retrieve(response.id)
    assert again.output_text == "echo: via the SDK" and again.status == "completed"


async def test_options_become_chat_parameters(live: LiveParlay,
                                              mock_upstream: MockUpstream) -> None:
    _token, sdk = await live.guest()
    marker = secrets.token_hex(4)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = await _raw(sdk, model="mock-small", input=f"json {marker}", store=False,
                      text={"format": {"type": "json_schema", "name": "answer",
                                       "schema": schema, "strict": True}},
                      reasoning={"effort": "low"}, user="u-1", prompt_cache_key="pk")
    assert body["text"]["format"]["name"] == "answer" and body["user"] == "u-1"
    [sent] = _sent(mock_upstream, marker)
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": schema, "strict": True}}
    assert sent["reasoning_effort"] == "low" and sent["user"] == "u-1"
    assert sent["prompt_cache_key"] == "pk" and "text" not in sent and "reasoning" not in sent


async def test_previous_response_id_chains_the_turns(
        live: LiveParlay, mock_upstream: MockUpstream) -> None:
    _token, sdk = await live.guest()
    first = await sdk.responses.create(model="mock-small", input="first",
                                       instructions="only for the first")
    marker = first_marker = secrets.token_hex(4)
    second = await _raw(sdk, input=f"second {marker}", previous_response_id=first.id)
    assert second["previous_response_id"] == first.id
    assert second["model"] == "mock-small"  # the chain's model when the request names none
    [sent] = _sent(mock_upstream, marker)
    assert sent["messages"] == [{"role": "user", "content": "first"},
                                {"role": "assistant", "content": "echo: first"},
                                {"role": "user", "content": f"second {marker}"}]
    marker = secrets.token_hex(4)
    await sdk.responses.create(model="mock-small", input=f"third {marker}",
                               previous_response_id=second["id"], instructions="new rules")
    [sent] = _sent(mock_upstream, marker)
    assert [m["content"] for m in sent["messages"]] == [
        "new rules", "first", "echo: first", f"second {first_marker}",
        f"echo: second {first_marker}", f"third {marker}"]


async def test_function_tool_round_trip(live: LiveParlay, mock_upstream: MockUpstream) -> None:
    _token, sdk = await live.guest()
    marker = secrets.token_hex(4)
    asked = await _raw(sdk, model="mock-small", tools=[WEATHER], tool_choice="auto",
                       parallel_tool_calls=False,
                       input=f'!call get_weather {{"city": "Paris {marker}"}}')
    assert asked["status"] == "completed" and asked["output_text"] == ""
    [call] = asked["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": f"Paris {marker}"} and call["call_id"]
    [sent] = _sent(mock_upstream, marker)
    assert sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is False
    assert asked["tools"][0]["name"] == "get_weather"
    marker = secrets.token_hex(4)
    answered = await _raw(sdk, model="mock-small", tools=[WEATHER],
                          previous_response_id=asked["id"],
                          input=[{"type": "function_call_output", "call_id": call["call_id"],
                                  "output": f"sunny {marker}"}])
    assert answered["output_text"] == f"tool said: sunny {marker}"
    [sent] = _sent(mock_upstream, marker)
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "weather of a city",
        "parameters": WEATHER["parameters"]}}]
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call["call_id"], "type": "function",
             "function": {"name": "get_weather", "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["call_id"], "content": f"sunny {marker}"}]
    items = await sdk.responses.input_items.list(answered["id"])
    assert [item.type for item in items.data] == ["function_call_output"]


async def test_manual_history_without_previous_response(
        live: LiveParlay, mock_upstream: MockUpstream) -> None:
    """A client may send the whole history itself, as OpenAI allows."""
    _token, sdk = await live.guest()
    marker = secrets.token_hex(4)
    response = await _raw(sdk, model="mock-small", store=False, input=[
        {"role": "developer", "content": "dev note"},
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": "https://x.test/a.png"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": f"done {marker}"}])
    assert response["output_text"] == f"tool said: done {marker}"
    [sent] = _sent(mock_upstream, marker)
    assert sent["messages"][0] == {"role": "system", "content": "dev note"}
    assert sent["messages"][1]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "auto"}}]
    assert sent["messages"][2]["tool_calls"][0]["id"] == "c1"


async def test_conversation_stores_the_turn(live: LiveParlay,
                                            mock_upstream: MockUpstream) -> None:
    token, sdk = await live.guest()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live.url, headers=headers) as http:
        conv = (await http.post("/v1/conversations", json={"model": "mock-small"})).json()["data"]
        first = await _raw(sdk, input="remember me", conversation=conv["id"])
        assert first["conversation"] == {"id": conv["id"]}
        asked = await _raw(sdk, input='!call get_weather {"city": "Oslo"}', tools=[WEATHER],
                           conversation={"id": conv["id"]})
        call = asked["output"][0]
        marker = secrets.token_hex(4)
        answered = await _raw(sdk, conversation=conv["id"], tools=[WEATHER], input=[
            {"type": "function_call_output", "call_id": call["call_id"],
             "output": f"rain {marker}"}])
        assert answered["output_text"] == f"tool said: rain {marker}"
        [sent] = _sent(mock_upstream, marker)
        assert [m["role"] for m in sent["messages"]] == [
            "user", "assistant", "user", "assistant", "tool"]
        assert sent["messages"][3]["tool_calls"][0]["id"] == call["call_id"]
        items = (await http.get(f"/v1/conversations/{conv['id']}/items")).json()["data"]
    assert [(i["type"], i["role"], i["content"]) for i in items] == [
        ("message", "user", "remember me"), ("message", "assistant", "echo: remember me"),
        ("message", "user", '!call get_weather {"city": "Oslo"}'),
        ("function_call", "assistant", call["arguments"]),
        ("function_call_output", "tool", f"rain {marker}"),
        ("message", "assistant", f"tool said: rain {marker}")]
    assert items[3]["content_parts"][0]["call_id"] == call["call_id"]
    assert items[-1]["usage"]["total_tokens"] > 0


async def test_upstream_failure_is_a_failed_response(live: LiveParlay) -> None:
    token, sdk = await live.guest()
    async with httpx.AsyncClient(base_url=live.url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        conv = (await http.post("/v1/conversations", json={})).json()["data"]
        failed = await _raw(sdk, model="mock-small", input="!status 500",
                            conversation=conv["id"])
        assert failed["status"] == "failed" and failed["output"] == []
        assert failed["error"]["code"] == "server_error"
        assert failed["error"]["type"] == "upstream_error" and failed["usage"] is None
        stored = await sdk.responses.retrieve(failed["id"])
        assert stored.status == "failed" and stored.error is not None
        items = (await http.get(f"/v1/conversations/{conv['id']}/items")).json()["data"]
        assert items == []  # a failed turn leaves no half of itself behind


async def test_max_output_tokens_is_incomplete(live: LiveParlay) -> None:
    _token, sdk = await live.guest()
    body = await _raw(sdk, model="mock-small", input="one two three four five",
                      max_output_tokens=2)
    assert body["status"] == "incomplete" and body["output_text"] == "echo: one"
    assert body["incomplete_details"]["reason"] == "max_output_tokens"
    assert body["output"][0]["status"] == "incomplete"


async def test_another_users_responses_are_404(live: LiveParlay) -> None:
    _token, sdk = await live.guest()
    _other_token, other = await live.guest()
    mine = await sdk.responses.create(model="mock-small", input="private")
    for call in (other.responses.retrieve(mine.id), other.responses.delete(mine.id),
                 other.responses.input_items.list(mine.id),
                 other.responses.create(model="mock-small", input="x",
                                        previous_response_id=mine.id)):
        with pytest.raises(openai.NotFoundError) as missing:
            await call
        assert missing.value.code == "response_not_found"
    assert (await sdk.responses.retrieve(mine.id)).output_text == "echo: private"


async def test_store_false_keeps_nothing(live: LiveParlay) -> None:
    _token, sdk = await live.guest()
    ephemeral = await sdk.responses.create(model="mock-small", input="forget", store=False)
    assert ephemeral.output_text == "echo: forget" and ephemeral.store is False
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(ephemeral.id)
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.create(model="mock-small", input="x",
                                   previous_response_id=ephemeral.id)


async def test_delete_and_input_items(live: LiveParlay) -> None:
    token, sdk = await live.guest()
    response = await sdk.responses.create(model="mock-small", input=[
        {"role": "user", "content": f"q{i}"} for i in range(5)])
    async with httpx.AsyncClient(base_url=live.url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        url = f"/v1/responses/{response.id}/input_items"
        page = (await http.get(url, params={"limit": 2})).json()
        ResponseItemList.model_validate(page)
        assert [i["content"][0]["text"] for i in page["data"]] == ["q4", "q3"]  # newest first
        assert page["has_more"] is True
        rest = (await http.get(url, params={"after": page["last_id"], "order": "desc"})).json()
        assert [i["content"][0]["text"] for i in rest["data"]] == ["q2", "q1", "q0"]
        ascending = (await http.get(url, params={"order": "asc"})).json()
        assert [i["content"][0]["text"] for i in ascending["data"]] == [
            "q0", "q1", "q2", "q3", "q4"]
        assert (await http.get(url, params={"after": "msg_nope"})).json()["error"]["code"] \
            == "invalid_cursor"
        deleted = await http.delete(f"/v1/responses/{response.id}")
        assert deleted.json() == {"id": response.id, "object": "response.deleted",
                                  "deleted": True}
        for gone in (await http.get(f"/v1/responses/{response.id}"), await http.get(url),
                     await http.delete(f"/v1/responses/{response.id}")):
            assert gone.status_code == 404 and gone.json()["error"]["code"] == \
                "response_not_found"
        bad = await http.get("/v1/responses/not%20an%20id")
        assert bad.status_code == 400


async def test_requests_parlay_cannot_honour_are_refused(
        live: LiveParlay, mock_upstream: MockUpstream) -> None:
    _token, sdk = await live.guest()
    before = len(mock_upstream.chat_requests())
    cases = [
        ({"tools": [{"type": "file_search"}]}, "unsupported_tool", "tools[0].type"),
        ({"tools": [{"type": "web_search", "filters": {"allowed_domains": ["a.b"]}}]},
         "unsupported_parameter", "tools[0].filters"),
        ({"tools": [{"type": "code_interpreter", "container": "cntr_1"}]},
         "unsupported_parameter", "tools[0].container"),
        ({"background": True}, "unsupported_parameter", "background"),
        ({"extra_body": {"bogus": 1}}, "unknown_parameter", "bogus"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "unsupported_item",
         "input[0].type"),
        ({"input": [{"type": "mcp_approval_response", "approval_request_id": "mcpr_x",
                     "approve": True}]}, "invalid_value", "input[0].approval_request_id"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "missing_field",
         "input[0].content[0].text"),
        ({"previous_response_id": "resp_1", "conversation": "conv_1"}, "invalid_value",
         "previous_response_id"),
        ({"temperature": 7}, "invalid_value", "temperature"),
    ]
    for params, code, param in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.responses.create(**{"model": "mock-small", "input": "x", **params})
        assert (refused.value.code, refused.value.param) == (code, param), refused.value.body
    with pytest.raises(openai.NotFoundError) as unknown:
        await sdk.responses.create(model="gpt-nope", input="x")
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.create(model="mock-small", input="x", conversation="conv_nope")
    assert len(mock_upstream.chat_requests()) == before


async def test_usage_is_accounted(live: LiveParlay) -> None:
    token, sdk = await live.guest()
    await sdk.responses.create(model="mock-large", input="count me")
    async for _event in await sdk.responses.create(model="mock-large", input="me too",
                                                   stream=True):
        pass
    async with httpx.AsyncClient(base_url=live.url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        usage = (await http.get("/v1/usage/me")).json()["data"]
    [row] = [d for d in usage["days"] if d["model"] == "mock-large"]
    assert row["requests"] == 2 and row["completion_tokens"] == 6


async def test_responses_are_deleted_with_their_user(live: LiveParlay) -> None:
    token, sdk = await live.guest()
    response = await sdk.responses.create(model="mock-small", input="bye")
    async with httpx.AsyncClient(base_url=live.url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        user_id = (await http.get("/llm/auth/me")).json()["data"]["id"]
    async with live.app.state.ctx.sessionmaker() as session:
        await session.execute(delete(User).where(User.id == user_id))
        await session.commit()
        assert await session.get(StoredResponse, response.id) is None


async def test_chat_limits_and_token_budget_apply(tmp_path, mock_upstream: MockUpstream) -> None:
    """POST /v1/responses counts in the `chat` group and spends the chat token budget; a
    refusal is an HTTP 429 (nothing stored), not a failed response."""

    from conftest import asgi_client, running_app
    from support.asserts import assert_error

    settings = mock_settings(make_settings, f"sqlite:///{tmp_path}/p.db", mock_upstream,
                             rate_limits="chat=3/min,chat_tokens=12/min")
    body = {"model": "mock-small", "input": "one two three"}
    async with running_app(settings) as app, asgi_client(app) as client:
        token = (await client.post("/llm/auth/guest-login")).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        first = await client.post("/v1/responses", headers=headers, json=body)
        assert first.headers["x-ratelimit-limit"] == "3"
        assert first.json()["usage"]["total_tokens"] == 7
        await app.state.ctx.limiter.drain()  # spends are counted just off the reply path
        assert (await client.post("/v1/responses", headers=headers, json=body)).status_code == 200
        await app.state.ctx.limiter.drain()
        assert_error(await client.post("/v1/responses", headers=headers, json=body), 429,
                     "token_rate_limited")
        assert_error(await client.post("/v1/responses", headers=headers, json=body), 429,
                     "rate_limited")
