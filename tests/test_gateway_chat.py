"""POST /v1/chat/completions and /v1/embeddings against a real loopback upstream."""

from __future__ import annotations

import secrets

import httpx
import orjson

from support.asserts import assert_error
from support.mock_upstream import MockUpstream


def _sse_events(text: str) -> list[str]:
    return [block.removeprefix("data: ") for block in text.split("\n\n") if block.strip()]


def _chunks(text: str) -> list[dict]:
    events = _sse_events(text)
    assert events[-1] == "[DONE]", events
    return [orjson.loads(e) for e in events[:-1]]


async def test_non_stream_returns_the_upstreams_completion(
    client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream
) -> None:
    word = secrets.token_hex(4)
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "messages": [{"role": "user", "content": f"hello {word}"}],
        "temperature": 0.7, "max_tokens": 150, "stream": False,
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "mock-small"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": f"echo: hello {word}"}
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 3
    sent = [r for r in mock_upstream.chat_requests() if word in str(r.body)]
    assert len(sent) == 1
    assert sent[0].headers["authorization"] == "Bearer mock-key"


async def test_every_parameter_is_forwarded_verbatim_except_parlays_own(
    client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream
) -> None:
    marker = secrets.token_hex(6)
    params = {
        "temperature": 0.25, "top_p": 0.9, "max_tokens": 50, "max_completion_tokens": 40,
        "stop": ["\n\n", "END"], "n": 1, "seed": 42, "presence_penalty": 0.1,
        "frequency_penalty": -0.2, "logit_bias": {"50256": -100}, "logprobs": True,
        "top_logprobs": 2, "user": f"end-user-{marker}", "parallel_tool_calls": False,
        "tools": [{"type": "function", "function": {
            "name": "lookup", "description": "find", "parameters": {
                "type": "object", "properties": {"q": {"type": "string"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "metadata": {"k": "v"}, "vendor_extension": {"nested": [1, 2.5, None, "ü"]},
    }
    messages = [{"role": "system", "content": "be terse"},
                {"role": "user", "content": [{"type": "text", "text": f"hi {marker}"}]}]
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-large", "messages": messages, **params,
        "conversation": None, "store": False,
    })
    assert response.status_code == 200, response.text
    [sent] = [r for r in mock_upstream.chat_requests() if r.body.get("user") == params["user"]]
    assert sent.body == {"model": "mock-large", "messages": messages, **params}


async def test_stream_relays_chunks_and_ends_with_done(
    client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream
) -> None:
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "stream": True,
        "messages": [{"role": "user", "content": "Write a short poem about AI."}],
    })
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = _chunks(response.text)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "echo: Write a short poem about AI."
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    # Parlay asked upstream for usage (to record it) but the client did not: no usage chunk.
    assert all(c["choices"] for c in chunks)
    sent = [r for r in mock_upstream.chat_requests()
            if "Write a short poem" in str(r.body) and r.body.get("stream")]
    assert sent[-1].body["stream_options"] == {"include_usage": True}


async def test_stream_include_usage_yields_the_usage_chunk(
    client: httpx.AsyncClient, guest: dict
) -> None:
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "count these words"}],
    })
    chunks = _chunks(response.text)
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


async def test_usage_is_recorded_per_user_and_model(
    client: httpx.AsyncClient, guest: dict
) -> None:
    for stream in (False, True):
        response = await client.post("/v1/chat/completions", headers=guest, json={
            "model": "mock-large", "stream": stream,
            "messages": [{"role": "user", "content": "one two three"}],
        })
        assert response.status_code == 200
    report = (await client.get("/v1/usage/me", headers=guest)).json()["data"]
    assert report["totals"] == {"requests": 2, "prompt_tokens": 6, "completion_tokens": 8,
                                "total_tokens": 14}
    assert [(d["model"], d["requests"]) for d in report["days"]] == [("mock-large", 2)]
    assert report["by_model"][0]["model"] == "mock-large"


async def test_unknown_model_is_404_listing_what_is_served(
    client: httpx.AsyncClient, guest: dict
) -> None:
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]})
    error = assert_error(response, 404, "model_not_found")
    assert error["param"] == "model"
    assert "mock-small" in error["message"] and "OPENAI_BASE_URL" in error["message"]
    assert "/v1/admin/providers" in error["message"]


async def test_invalid_bodies_are_400(client: httpx.AsyncClient, guest: dict) -> None:
    cases = [
        ({"messages": [{"role": "user", "content": "x"}]}, "missing_field", "model"),
        ({"model": 3, "messages": [{"role": "user", "content": "x"}]}, "invalid_type", "model"),
        ({"model": "mock-small"}, "missing_field", "messages"),
        ({"model": "mock-small", "messages": []}, "invalid_value", "messages"),
        ({"model": "mock-small", "messages": ["hi"]}, "invalid_value", "messages[0]"),
        ({"model": "mock-small", "messages": [{"role": "user"}], "stream": "yes"},
         "invalid_type", "stream"),
    ]
    for body, code, param in cases:
        error = assert_error(await client.post("/v1/chat/completions", headers=guest, json=body),
                             400, code)
        assert error["param"] == param
    raw = await client.post("/v1/chat/completions", headers=guest, content=b"{not json")
    assert_error(raw, 400, "invalid_json")
    array = await client.post("/v1/chat/completions", headers=guest, content=b"[1]")
    assert_error(array, 400, "invalid_body")


async def test_chat_needs_credentials(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json={
        "model": "mock-small", "messages": [{"role": "user", "content": "hi"}]})
    assert_error(response, 401)


async def test_upstream_500_is_502(client: httpx.AsyncClient, guest: dict) -> None:
    for stream in (False, True):
        response = await client.post("/v1/chat/completions", headers=guest, json={
            "model": "mock-small", "stream": stream,
            "messages": [{"role": "user", "content": "!status 500"}]})
        error = assert_error(response, 502, "upstream_error")
        assert "mock failure" in error["message"]


async def test_upstream_4xx_keeps_its_status_and_message(
    client: httpx.AsyncClient, guest: dict
) -> None:
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "messages": [{"role": "user", "content": "!status 400"}]})
    error = assert_error(response, 400)
    assert error["message"] == "mock failure"
    limited = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "messages": [{"role": "user", "content": "!status 429"}]})
    assert_error(limited, 429)


async def test_stream_cut_midway_ends_with_an_error_event(
    client: httpx.AsyncClient, guest: dict
) -> None:
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "stream": True,
        "messages": [{"role": "user", "content": "!cut 2"}]})
    assert response.status_code == 200
    events = _sse_events(response.text)
    assert "[DONE]" not in events
    assert len(events) == 3
    assert [orjson.loads(e)["choices"][0]["delta"] for e in events[:2]] == [
        {"role": "assistant", "content": ""}, {"content": "echo:"}]
    error = orjson.loads(events[-1])["error"]
    assert error["type"] == "upstream_error" and error["code"] == "upstream_error"
    assert error["request_id"] == response.headers["x-request-id"]


async def test_embeddings_pass_through(
    client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream
) -> None:
    marker = secrets.token_hex(4)
    response = await client.post("/v1/embeddings", headers=guest, json={
        "model": "mock-small", "input": ["a b", marker], "encoding_format": "float",
        "dimensions": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and body["model"] == "mock-small"
    assert [d["embedding"][0] for d in body["data"]] == [3.0, float(len(marker))]
    [sent] = [r for r in mock_upstream.requests if r.path.endswith("/embeddings")
              and marker in r.body["input"]]
    assert sent.body == {"model": "mock-small", "input": ["a b", marker],
                         "encoding_format": "float", "dimensions": 3}
    assert_error(await client.post("/v1/embeddings", headers=guest,
                                   json={"model": "mock-small"}), 400, "missing_field")
