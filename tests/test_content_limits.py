"""The content caps (services/content.py) hold on every path that stores content: conversation
items (both forms), edits, conversations created with items, and chat completions with a
`conversation` (streamed or not). Nothing is stored and no upstream is called when refused."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from parlay.services.content import (
    MAX_CONTENT_CHARS,
    MAX_CONTENT_PARTS,
    MAX_CONTENT_TYPE_CHARS,
    MAX_ITEMS_PER_REQUEST,
    MAX_PART_TYPE_CHARS,
)
from support.asserts import assert_error
from support.mock_upstream import MockUpstream

TOO_LONG = "x" * (MAX_CONTENT_CHARS + 1)
HALF = "y" * (MAX_CONTENT_CHARS // 2 + 1)
BAD_CONTENT: dict[str, Any] = {
    "too long": TOO_LONG,
    "too long in a part": [{"type": "input_text", "text": TOO_LONG}],
    "too long in all parts": [{"type": "input_text", "text": HALF},
                              {"type": "input_text", "text": HALF}],
    "too many parts": [{"type": "input_text", "text": "a"}] * (MAX_CONTENT_PARTS + 1),
    "no parts": [],
    "part type too long": [{"type": "t" * (MAX_PART_TYPE_CHARS + 1)}],
    "text part without text": [{"type": "input_text"}],
    "NUL": "a\x00b",
    "NUL in a part": [{"type": "input_text", "text": "\x00"}],
}
Store = Callable[[httpx.AsyncClient, dict, str, Any], Awaitable[httpx.Response]]


async def _conversation(client: httpx.AsyncClient, headers: dict) -> str:
    return (await client.post("/v1/conversations", headers=headers, json={})).json()["data"]["id"]


async def _count(client: httpx.AsyncClient, headers: dict, conv: str) -> int:
    return (await client.get(f"/v1/conversations/{conv}", headers=headers)).json()["data"][
        "item_count"]


async def _item(client: httpx.AsyncClient, headers: dict, conv: str, content: Any,
                ) -> httpx.Response:
    return await client.post(f"/v1/conversations/{conv}/items", headers=headers,
                             json={"role": "user", "content": content})


async def _items_form(client: httpx.AsyncClient, headers: dict, conv: str, content: Any,
                      ) -> httpx.Response:
    return await client.post(f"/v1/conversations/{conv}/items", headers=headers, json={
        "items": [{"type": "message", "role": "user", "content": content}]})


async def _chat(client: httpx.AsyncClient, headers: dict, conv: str, content: Any,
                ) -> httpx.Response:
    return await client.post("/v1/chat/completions", headers=headers, json={
        "model": "mock-small", "conversation": conv,
        "messages": [{"role": "user", "content": content}]})


async def _chat_streamed(client: httpx.AsyncClient, headers: dict, conv: str, content: Any,
                         ) -> httpx.Response:
    return await client.post("/v1/chat/completions", headers=headers, json={
        "model": "mock-small", "conversation": conv, "stream": True,
        "messages": [{"role": "user", "content": content}]})


# path -> (how to store, the status a refusal has there)
PATHS: dict[str, tuple[Store, int]] = {
    "item": (_item, 422),
    "items list": (_items_form, 422),
    "chat completion": (_chat, 400),
    "chat completion, streamed": (_chat_streamed, 400),
}


@pytest.mark.parametrize("path", list(PATHS))
async def test_caps_hold_on_every_path(client: httpx.AsyncClient, guest: dict,
                                       mock_upstream: MockUpstream, path: str) -> None:
    store, status = PATHS[path]
    conv = await _conversation(client, guest)
    before = len(mock_upstream.chat_requests())
    for name, content in BAD_CONTENT.items():
        response = await store(client, guest, conv, content)
        assert response.status_code == status, (name, response.text[:300])
        assert_error(response, status)
    assert await _count(client, guest, conv) == 0
    assert len(mock_upstream.chat_requests()) == before
    # at the cap exactly: stored (and answered)
    marker = secrets.token_hex(4)
    fits = marker + "z" * (MAX_CONTENT_CHARS - len(marker))
    response = await store(client, guest, conv, fits)
    assert response.status_code in (200, 201), response.text[:300]
    items = (await client.get(f"/v1/conversations/{conv}/items",
                              headers=guest)).json()["data"]
    assert items[0]["content"] == fits


async def test_edits_and_new_conversations_are_capped(client: httpx.AsyncClient,
                                                      guest: dict) -> None:
    conv = await _conversation(client, guest)
    item = (await _item(client, guest, conv, "fine")).json()["data"]
    for name, content in BAD_CONTENT.items():
        edit = await client.patch(f"/v1/conversations/{conv}/items/{item['id']}",
                                  headers=guest, json={"content": content})
        assert edit.status_code == 422, name
        created = await client.post("/v1/conversations", headers=guest, json={
            "items": [{"role": "user", "content": content}]})
        assert created.status_code == 422, name
    stored = (await client.get(f"/v1/conversations/{conv}/items/{item['id']}",
                               headers=guest)).json()["data"]
    assert (stored["content"], stored["version"]) == ("fine", 1)
    long_type = await client.patch(f"/v1/conversations/{conv}/items/{item['id']}",
                                   headers=guest, json={
                                       "content": "ok",
                                       "content_type": "c" * (MAX_CONTENT_TYPE_CHARS + 1)})
    assert_error(long_type, 422)


async def test_chat_completion_stores_at_most_the_item_cap(client: httpx.AsyncClient,
                                                           guest: dict) -> None:
    conv = await _conversation(client, guest)
    messages = [{"role": "user", "content": f"m{i}"} for i in range(MAX_ITEMS_PER_REQUEST + 1)]
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conv, "messages": messages})
    error = assert_error(response, 400, "validation_error")
    assert error["param"] == "messages"
    # store: false stores nothing, so nothing is capped: the upstream judges
    unstored = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conv, "store": False,
        "messages": [{"role": "user", "content": TOO_LONG[:-1] + "!"}]})
    assert unstored.status_code == 200, unstored.text[:300]
    assert await _count(client, guest, conv) == 0


async def test_the_refusal_names_the_message(client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conv,
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": TOO_LONG}]})
    error = assert_error(response, 400, "validation_error")
    assert error["param"] == "messages.1.content"
    assert str(MAX_CONTENT_CHARS) in error["message"]
    assert orjson.loads(response.content)["error"]["type"] == "invalid_request_error"


async def test_responses_input_messages_are_capped(client: httpx.AsyncClient, guest: dict,
                                                   mock_upstream: MockUpstream) -> None:
    before = len(mock_upstream.chat_requests())
    for name, content in BAD_CONTENT.items():
        response = await client.post("/v1/responses", headers=guest, json={
            "model": "mock-small",
            "input": [{"type": "message", "role": "user", "content": content}]})
        assert response.status_code == 400, (name, response.text[:300])
    error = assert_error(await client.post("/v1/responses", headers=guest, json={
        "model": "mock-small", "input": TOO_LONG}), 400)
    assert error["param"] == "input"
    assert len(mock_upstream.chat_requests()) == before
