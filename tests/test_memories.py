"""/v1/users/me/memories: create, list (offset and cursor), get, edit, delete, forget all, the
per-user bound, validation, and another user's memories answering 404 everywhere."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from conftest import asgi_client, make_settings, new_guest, running_app
from support.asserts import assert_error

BASE = "/v1/users/me/memories"


async def remember(client: httpx.AsyncClient, headers: dict, text: str) -> dict:
    response = await client.post(BASE, headers=headers, json={"text": text})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_create_get_edit_delete(client: httpx.AsyncClient, guest: dict) -> None:
    memory = await remember(client, guest, "  I am allergic to peanuts.  ")
    assert memory["id"].startswith("mem_")
    assert memory["object"] == "memory"
    assert memory["text"] == "I am allergic to peanuts."  # trimmed
    assert (memory["source"], memory["conversation_id"], memory["item_id"]) == (
        "manual", None, None)
    datetime.fromisoformat(memory["created_at"])
    assert memory["created_at"] == memory["updated_at"]

    got = await client.get(f"{BASE}/{memory['id']}", headers=guest)
    assert got.status_code == 200 and got.json()["data"] == memory

    edited = await client.patch(f"{BASE}/{memory['id']}", headers=guest,
                                json={"text": "I am allergic to peanuts and cashews."})
    assert edited.status_code == 200, edited.text
    data = edited.json()["data"]
    assert data["text"] == "I am allergic to peanuts and cashews."
    assert data["created_at"] == memory["created_at"] and data["updated_at"] > memory["updated_at"]

    deleted = await client.delete(f"{BASE}/{memory['id']}", headers=guest)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(await client.get(f"{BASE}/{memory['id']}", headers=guest), 404,
                 "memory_not_found")
    assert_error(await client.delete(f"{BASE}/{memory['id']}", headers=guest), 404,
                 "memory_not_found")
    assert_error(await client.patch(f"{BASE}/{memory['id']}", headers=guest,
                                    json={"text": "x"}), 404, "memory_not_found")


async def test_list_pages_newest_first(client: httpx.AsyncClient, guest: dict) -> None:
    ids = [(await remember(client, guest, f"Fact number {i}."))["id"] for i in range(5)]
    newest_first = list(reversed(ids))
    page = (await client.get(BASE, headers=guest, params={"limit": 2})).json()
    assert page["object"] == "list"
    assert [m["id"] for m in page["data"]] == newest_first[:2]
    assert (page["has_more"], page["total"]) == (True, 5)
    assert (page["first_id"], page["last_id"]) == (newest_first[0], newest_first[1])

    second = (await client.get(BASE, headers=guest,
                               params={"limit": 2, "after": page["last_id"]})).json()
    assert [m["id"] for m in second["data"]] == newest_first[2:4]
    by_offset = (await client.get(BASE, headers=guest, params={"limit": 2, "offset": 4})).json()
    assert [m["id"] for m in by_offset["data"]] == newest_first[4:]
    assert by_offset["has_more"] is False
    oldest = (await client.get(BASE, headers=guest, params={"order": "asc", "limit": 5})).json()
    assert [m["id"] for m in oldest["data"]] == ids

    assert_error(await client.get(BASE, headers=guest, params={"after": "mem_nope"}), 400,
                 "invalid_cursor")
    assert_error(await client.get(BASE, headers=guest, params={"limit": 0}), 422)
    empty = (await client.get(BASE, headers=await new_guest(client))).json()
    assert (empty["data"], empty["total"], empty["first_id"]) == ([], 0, None)


async def test_forget_all(client: httpx.AsyncClient, guest: dict, other_guest: dict) -> None:
    for text in ("My name is Ada.", "I live in Lisbon.", "I like chess."):
        await remember(client, guest, text)
    theirs = await remember(client, other_guest, "I have two cats.")
    response = await client.delete(BASE, headers=guest)
    assert response.status_code == 200 and response.json() == {"data": {"deleted_count": 3}}
    assert (await client.get(BASE, headers=guest)).json()["total"] == 0
    assert (await client.delete(BASE, headers=guest)).json()["data"]["deleted_count"] == 0
    # the other user's memories are untouched
    listed = (await client.get(BASE, headers=other_guest)).json()
    assert [m["id"] for m in listed["data"]] == [theirs["id"]] and listed["total"] == 1
    # and the bound counts again from zero
    await remember(client, guest, "I like go too.")
    assert (await client.get(BASE, headers=guest)).json()["total"] == 1


async def test_another_users_memory_is_404(client: httpx.AsyncClient, guest: dict,
                                           other_guest: dict) -> None:
    mine = await remember(client, guest, "My bank PIN hint is blue.")
    path = f"{BASE}/{mine['id']}"
    assert_error(await client.get(path, headers=other_guest), 404, "memory_not_found")
    assert_error(await client.patch(path, headers=other_guest, json={"text": "hacked"}), 404,
                 "memory_not_found")
    assert_error(await client.delete(path, headers=other_guest), 404, "memory_not_found")
    assert (await client.get(BASE, headers=other_guest)).json()["data"] == []
    assert_error(await client.get(BASE, headers=other_guest, params={"after": mine["id"]}),
                 400, "invalid_cursor")
    assert (await client.delete(BASE, headers=other_guest)).json()["data"]["deleted_count"] == 0
    still = await client.get(path, headers=guest)
    assert still.status_code == 200 and still.json()["data"]["text"] == mine["text"]


@pytest.mark.parametrize("body", [
    {}, {"text": ""}, {"text": "   "}, {"text": "x" * 2001}, {"text": 42}, {"text": None},
    {"text": "ok", "source": "extracted"}, {"text": "bad\x00nul"}, {"text": "bell\x07"},
])
async def test_invalid_text_is_422(client: httpx.AsyncClient, guest: dict, body: dict) -> None:
    error = assert_error(await client.post(BASE, headers=guest, json=body), 422)
    assert error["param"] in ("text", "source")
    assert (await client.get(BASE, headers=guest)).json()["total"] == 0


async def test_edge_lengths_and_bad_ids(client: httpx.AsyncClient, guest: dict) -> None:
    assert (await remember(client, guest, "x" * 2000))["text"] == "x" * 2000
    assert (await remember(client, guest, "é"))["text"] == "é"
    assert_error(await client.get(f"{BASE}/bad%20id", headers=guest), 422)
    assert_error(await client.post(BASE, content=b"{nope",
                                   headers={**guest, "Content-Type": "application/json"}),
                 400, "invalid_json")
    assert_error(await client.get(BASE), 401, "missing_credentials")


async def test_memories_per_user_are_bounded(database_url: str) -> None:
    settings = make_settings(database_url, memory_max_per_user=3)
    async with running_app(settings) as app, asgi_client(app) as client:
        guest = await new_guest(client)
        memories = [await remember(client, guest, f"Fact {i}.") for i in range(3)]
        assert_error(await client.post(BASE, headers=guest, json={"text": "One too many."}),
                     409, "memory_limit_reached")
        other = await new_guest(client)
        await remember(client, other, "Another user has room.")
        await client.delete(f"{BASE}/{memories[0]['id']}", headers=guest)
        await remember(client, guest, "Room again after a delete.")
        assert (await client.get(BASE, headers=guest)).json()["total"] == 3
