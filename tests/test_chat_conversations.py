"""POST /v1/chat/completions with a `conversation`: stored history prepended, the turn
appended (unless store: false), OpenAI shapes unchanged."""

from __future__ import annotations

import secrets

import httpx
import orjson

from support.asserts import assert_error
from support.mock_upstream import MockUpstream


async def _conversation_with_history(client: httpx.AsyncClient, headers: dict, **body) -> str:
    conv = (await client.post("/v1/conversations", headers=headers, json=body)).json()["data"]
    await client.post(f"/v1/conversations/{conv['id']}/items", headers=headers, json={
        "items": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]})
    return conv["id"]


async def _contents(client: httpx.AsyncClient, headers: dict, conv: str) -> list[tuple[str, str, str]]:
    items = (await client.get(f"/v1/conversations/{conv}/items", headers=headers)).json()["data"]
    return [(i["role"], i["content"], i["status"]) for i in items]


def _sent_with(mock: MockUpstream, marker: str) -> list[dict]:
    return [r.body for r in mock.chat_requests() if marker in orjson.dumps(r.body).decode()]


async def test_history_is_prepended_and_the_turn_stored(
        client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream) -> None:
    conv = await _conversation_with_history(client, guest)
    marker = secrets.token_hex(4)
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conv,
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": f"q2 {marker}"}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and "conversation" not in body
    assert body["choices"][0]["message"]["content"] == f"echo: q2 {marker}"
    [sent] = _sent_with(mock_upstream, marker)
    assert sent["messages"] == [{"role": "user", "content": "q1"},
                                {"role": "assistant", "content": "a1"},
                                {"role": "system", "content": "be brief"},
                                {"role": "user", "content": f"q2 {marker}"}]
    assert "conversation" not in sent and "store" not in sent
    assert await _contents(client, guest, conv) == [
        ("user", "q1", "completed"), ("assistant", "a1", "completed"),
        ("user", f"q2 {marker}", "completed"),
        ("assistant", f"echo: q2 {marker}", "completed")]
    assert response.headers["x-parlay-conversation-id"] == conv
    reply = await client.get(f"/v1/conversations/{conv}/items/{response.headers['x-parlay-reply-id']}",
                             headers=guest)
    assert reply.json()["data"]["usage"] == body["usage"]


async def test_store_false_reads_history_but_stores_nothing(
        client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream) -> None:
    conv = await _conversation_with_history(client, guest, model="mock-large")
    marker = secrets.token_hex(4)
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "conversation": conv, "store": False,
        "messages": [{"role": "user", "content": f"ephemeral {marker}"}]})
    assert response.status_code == 200, response.text
    [sent] = _sent_with(mock_upstream, marker)
    assert sent["model"] == "mock-large"  # the conversation's model when the body names none
    assert len(sent["messages"]) == 3
    assert len(await _contents(client, guest, conv)) == 2


async def test_stream_stores_the_reply(client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation_with_history(client, guest)
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conv, "stream": True,
        "messages": [{"role": "user", "content": "streamed"}]})
    assert response.status_code == 200, response.text
    events = [b.removeprefix("data: ") for b in response.text.split("\n\n") if b.strip()]
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert all(c["choices"] for c in chunks)  # the usage chunk Parlay asked for is not leaked
    assert await _contents(client, guest, conv) == [
        ("user", "q1", "completed"), ("assistant", "a1", "completed"),
        ("user", "streamed", "completed"), ("assistant", "echo: streamed", "completed")]
    asked = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conv, "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "with usage"}]})
    chunks = [orjson.loads(b.removeprefix("data: ")) for b in asked.text.split("\n\n")
              if b.strip() and "[DONE]" not in b]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


async def test_failures_store_nothing(client: httpx.AsyncClient, guest: dict,
                                      other_guest: dict) -> None:
    conv = await _conversation_with_history(client, guest)
    for stream in (False, True):
        response = await client.post("/v1/chat/completions", headers=guest, json={
            "model": "mock-small", "conversation": conv, "stream": stream,
            "messages": [{"role": "user", "content": "!status 500"}]})
        assert_error(response, 502)
    assert len(await _contents(client, guest, conv)) == 2
    foreign = await client.post("/v1/chat/completions", headers=other_guest, json={
        "model": "mock-small", "conversation": conv,
        "messages": [{"role": "user", "content": "hi"}]})
    assert_error(foreign, 404, "conversation_not_found")
    bad = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": 42, "messages": [{"role": "user", "content": "x"}]})
    assert_error(bad, 400, "invalid_type")
    unknown_model = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "gpt-4", "conversation": conv, "messages": [{"role": "user", "content": "x"}]})
    assert_error(unknown_model, 404, "model_not_found")
    assert len(await _contents(client, guest, conv)) == 2
