"""Assistant replies against the loopback upstream: history and preamble sent, model choice,
regenerate keeping versions, streaming (complete, cut, client gone) and upstream failures."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from conftest import make_settings, new_guest, running_app
from parlay.db.base import utcnow
from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import items as item_repo
from parlay.db.repositories.items import NewItem
from support.asserts import assert_error
from support.mock_upstream import MockUpstream, serve_asgi


async def _conversation(client: httpx.AsyncClient, headers: dict, **body: Any) -> str:
    response = await client.post("/v1/conversations", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


async def _items(client: httpx.AsyncClient, headers: dict, conv: str) -> list[dict]:
    response = await client.get(f"/v1/conversations/{conv}/items", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _sent_with(mock: MockUpstream, marker: str) -> list[dict]:
    return [r.body for r in mock.chat_requests() if marker in orjson.dumps(r.body).decode()]


def _events(text: str) -> list[str]:
    return [block.removeprefix("data: ") for block in text.split("\n\n") if block.strip()]


async def test_reply_uses_history_and_is_stored(client: httpx.AsyncClient, guest: dict,
                                                mock_upstream: MockUpstream) -> None:
    conv = await _conversation(client, guest)
    marker = secrets.token_hex(4)
    first = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                              json={"role": "user", "content": f"one {marker}"})
    assert first.status_code == 201, first.text
    reply = first.json()["reply"]
    assert reply["role"] == "assistant" and reply["status"] == "completed"
    assert reply["content"] == f"echo: one {marker}"
    assert reply["content_parts"] == [{"type": "output_text", "text": f"echo: one {marker}"}]
    assert reply["usage"]["total_tokens"] > 0 and reply["model"] == "mock-small"
    second = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                               json={"role": "user", "content": f"two {marker}",
                                     "temperature": 0.3, "max_tokens": 64})
    assert second.json()["reply"]["content"] == f"echo: two {marker}"
    sent = [b for b in _sent_with(mock_upstream, f"two {marker}")]
    assert len(sent) == 1
    assert sent[0]["messages"] == [
        {"role": "user", "content": f"one {marker}"},
        {"role": "assistant", "content": f"echo: one {marker}"},
        {"role": "user", "content": f"two {marker}"}]
    assert (sent[0]["temperature"], sent[0]["max_tokens"]) == (0.3, 64)
    assert [i["content"] for i in await _items(client, guest, conv)] == [
        f"one {marker}", f"echo: one {marker}", f"two {marker}", f"echo: two {marker}"]


async def test_profile_preamble_and_model_choice(client: httpx.AsyncClient, guest: dict,
                                                 mock_upstream: MockUpstream) -> None:
    settings = await client.patch("/v1/users/me/settings", headers=guest, json={
        "profile_settings": {"base_style": "Professional", "nick_name": "Sam"},
        "advanced_settings": {"default_model": "mock-large"}})
    assert settings.status_code == 200, settings.text
    marker = secrets.token_hex(4)
    conv = await _conversation(client, guest)
    await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                      json={"role": "user", "content": f"user default {marker}"})
    [sent] = _sent_with(mock_upstream, f"user default {marker}")
    assert sent["model"] == "mock-large"  # the user's default
    assert sent["messages"][0]["role"] == "system"
    assert "Professional" in sent["messages"][0]["content"] and "Sam" in sent["messages"][0]["content"]

    conv_small = await _conversation(client, guest, model="mock-small")
    await client.post(f"/v1/conversations/{conv_small}/items", headers=guest,
                      json={"role": "user", "content": f"conversation model {marker}"})
    assert _sent_with(mock_upstream, f"conversation model {marker}")[0]["model"] == "mock-small"
    await client.post(f"/v1/conversations/{conv_small}/items", headers=guest,
                      json={"role": "user", "content": f"override {marker}", "model": "mock-large"})
    assert _sent_with(mock_upstream, f"override {marker}")[0]["model"] == "mock-large"


async def test_generate_false_and_non_user_roles_only_store(
        client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream) -> None:
    conv = await _conversation(client, guest)
    before = len(mock_upstream.chat_requests())
    for body in ({"role": "user", "content": "quiet", "generate": False},
                 {"role": "system", "content": "be brief"},
                 {"role": "assistant", "content": "noted"}):
        response = await client.post(f"/v1/conversations/{conv}/items", headers=guest, json=body)
        assert response.status_code == 201 and response.json()["reply"] is None
    assert len(mock_upstream.chat_requests()) == before
    opt_in = await client.post(f"/v1/conversations/{conv}/items", headers=guest, json={
        "items": [{"type": "message", "role": "user", "content": "answer this"}], "generate": True})
    assert opt_in.json()["reply"]["content"] == "echo: answer this"


async def test_unknown_model_stores_nothing(client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    response = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                 json={"role": "user", "content": "hi", "model": "gpt-4"})
    assert_error(response, 404, "model_not_found")
    assert await _items(client, guest, conv) == []


async def test_upstream_failure_keeps_the_message_and_makes_no_reply(
        client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    response = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                 json={"role": "user", "content": "!status 500"})
    assert_error(response, 502)
    stream = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                               json={"role": "user", "content": "!status 503", "stream": True})
    assert_error(stream, 502)
    assert not stream.headers["content-type"].startswith("text/event-stream")
    items = await _items(client, guest, conv)
    assert [(i["role"], i["content"]) for i in items] == [("user", "!status 500"),
                                                          ("user", "!status 503")]


async def test_regenerate_keeps_versions(client: httpx.AsyncClient, guest: dict,
                                         mock_upstream: MockUpstream) -> None:
    conv = await _conversation(client, guest)
    marker = secrets.token_hex(4)
    created = (await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                 json={"role": "user", "content": f"q {marker}"})).json()
    reply_id = created["reply"]["id"]
    url = f"/v1/conversations/{conv}/items/{reply_id}/regenerate"
    again = await client.post(url, headers=guest, json={"model": "mock-large", "max_tokens": 2})
    assert again.status_code == 200, again.text
    data = again.json()["data"]
    assert data["id"] == reply_id and data["version"] == 2 and data["model"] == "mock-large"
    assert data["content"] == "echo: q"  # max_tokens reached the upstream
    assert [(v["version"], v["content"], v["model"]) for v in data["versions"]] == [
        (1, f"echo: q {marker}", "mock-small")]
    sent = _sent_with(mock_upstream, f"q {marker}")[-1]
    assert sent["messages"] == [{"role": "user", "content": f"q {marker}"}]  # not the old reply
    # regenerate through the user message: the reply after it is replaced
    third = await client.post(f"/v1/conversations/{conv}/items/{created['data']['id']}/regenerate",
                              headers=guest)
    assert third.json()["data"]["id"] == reply_id and third.json()["data"]["version"] == 3
    versions = (await client.get(f"/v1/conversations/{conv}/items/{reply_id}/versions",
                                 headers=guest)).json()["data"]
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, False), (3, True)]
    assert [v["content"] for v in versions] == [f"echo: q {marker}", "echo: q", f"echo: q {marker}"]
    assert len(await _items(client, guest, conv)) == 2  # replaced, not appended
    # an upstream failure changes nothing
    await client.patch(f"/v1/conversations/{conv}/items/{created['data']['id']}", headers=guest,
                       json={"content": "!status 500"})
    failed = await client.post(url, headers=guest)
    assert_error(failed, 502)
    item = (await client.get(f"/v1/conversations/{conv}/items/{reply_id}", headers=guest)).json()
    assert item["data"]["version"] == 3


async def test_regenerate_on_a_user_message_without_reply_creates_one(
        client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    stored = (await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                json={"role": "user", "content": "later", "generate": False})).json()
    response = await client.post(
        f"/v1/conversations/{conv}/items/{stored['data']['id']}/regenerate", headers=guest, json={})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["content"] == "echo: later"
    assert [i["role"] for i in await _items(client, guest, conv)] == ["user", "assistant"]
    system = (await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                json={"role": "system", "content": "rules"})).json()
    assert_error(await client.post(
        f"/v1/conversations/{conv}/items/{system['data']['id']}/regenerate", headers=guest),
        400, "not_regenerable")


async def test_stream_relays_chunks_and_stores_the_reply(
        client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    response = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                 json={"role": "user", "content": "stream me", "stream": True})
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["choices"] for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "echo: stream me"
    items = await _items(client, guest, conv)
    assert [i["id"] for i in items] == [response.headers["x-parlay-item-id"],
                                        response.headers["x-parlay-reply-id"]]
    assert items[1]["content"] == text and items[1]["status"] == "completed"
    assert items[1]["usage"]["completion_tokens"] == 3


async def test_stream_cut_midway_keeps_what_was_relayed_as_incomplete(
        client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    response = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                 json={"role": "user", "content": "!cut 3", "stream": True})
    assert response.status_code == 201
    events = _events(response.text)
    assert "[DONE]" not in events
    assert "error" in orjson.loads(events[-1])
    relayed = "".join(orjson.loads(e)["choices"][0]["delta"].get("content", "")
                      for e in events[:-1])
    assert "echo: !cut".startswith(relayed)
    reply = (await _items(client, guest, conv))[1]
    assert (reply["status"], reply["content"]) == ("incomplete", relayed)


def _cutting_upstream(parts: list[str], pause: float, seen: list[dict]) -> Starlette:
    """An upstream that streams `parts`, waits, then drops the connection without [DONE];
    the request bodies it got go to `seen`."""
    async def models(_: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [
            {"id": "cutter", "object": "model", "created": 0, "owned_by": "test"}]})

    async def chat(request: Request) -> StreamingResponse:
        seen.append(orjson.loads(await request.body()))

        async def events():
            for part in parts:
                chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0,
                         "model": "cutter", "choices": [{"index": 0, "delta": {"content": part},
                                                         "finish_reason": None}]}
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            await asyncio.sleep(pause)
            raise ConnectionAbortedError
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/models", models),
                             Route("/v1/chat/completions", chat, methods=["POST"])])


async def test_upstream_breaking_midway_keeps_the_partial_reply(database_url: str) -> None:
    seen: list[dict] = []
    async with serve_asgi(_cutting_upstream(["Hello", " wor", "ld"], 0.3, seen)) as upstream:
        settings = make_settings(database_url, openai_base_url=upstream + "/v1",
                                 openai_api_key="k")
        async with running_app(settings) as app, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=30) as http:
            headers = await new_guest(http)
            conv = await _conversation(http, headers, model="cutter")
            response = await http.post(f"/v1/conversations/{conv}/items", headers=headers,
                                       json={"role": "user", "content": "hi", "stream": True})
            assert response.status_code == 201, response.text
            events = _events(response.text)
            assert "[DONE]" not in events and "error" in orjson.loads(events[-1])
            reply = (await _items(http, headers, conv))[1]
            assert (reply["status"], reply["content"]) == ("incomplete", "Hello world")
            # the incomplete reply is history for the next turn
            await http.post(f"/v1/conversations/{conv}/items", headers=headers,
                            json={"role": "user", "content": "go on", "stream": True})
    assert seen[-1]["messages"] == [{"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "Hello world"},
                                    {"role": "user", "content": "go on"}]


async def test_client_disconnect_keeps_partial_reply_and_cancels_upstream(
        app: Any, guest: dict, mock_upstream: MockUpstream) -> None:
    async with serve_asgi(app, lifespan="off") as url, httpx.AsyncClient(
            base_url=url, timeout=10) as http:
        conv = await _conversation(http, guest)
        cancelled = mock_upstream.cancelled
        async with http.stream("POST", f"/v1/conversations/{conv}/items", headers=guest,
                               json={"role": "user", "content": "!hang",
                                     "stream": True}) as response:
            assert response.status_code == 201
            reply_id = response.headers["x-parlay-reply-id"]
            # Keep the iterator: a dropped one is finalised, which closes the response.
            chunks = response.aiter_bytes()
            first = await anext(chunks)
            assert first.startswith(b"data: ")
            in_progress = await http.get(f"/v1/conversations/{conv}/items/{reply_id}",
                                         headers=guest)
            assert in_progress.json()["data"]["status"] == "in_progress"
        status = None
        for _ in range(100):
            item = await http.get(f"/v1/conversations/{conv}/items/{reply_id}", headers=guest)
            status = item.json()["data"]["status"]
            if status != "in_progress" and mock_upstream.cancelled > cancelled:
                break
            await asyncio.sleep(0.05)
        assert status == "incomplete"
        assert mock_upstream.cancelled > cancelled


async def test_stale_in_progress_replies_are_marked_incomplete(app: Any, guest: dict,
                                                               client: httpx.AsyncClient) -> None:
    conv = await _conversation(client, guest)
    ctx = app.state.ctx
    async with ctx.sessionmaker() as session:
        first = await conversation_repo.allocate_positions(session, conv, 2)
        old, _live = await item_repo.insert_items(session, conv, first, [
            NewItem(role="assistant", content="half", status="in_progress"),
            NewItem(role="assistant", content="live", status="in_progress")])
        old.updated_at = utcnow() - timedelta(hours=1)
        await session.commit()
        marked = await item_repo.mark_stale_in_progress_incomplete(session)
        await session.commit()
    assert marked >= 1
    items = {i["content"]: i["status"] for i in await _items(client, guest, conv)}
    assert items == {"half": "incomplete", "live": "in_progress"}
