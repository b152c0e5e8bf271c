"""Conversations and items: CRUD, metadata merge, paging edges (offset and cursor), bulk
delete, and another user's ids answering 404 on every route."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from support.asserts import assert_error


async def _conversation(client: httpx.AsyncClient, headers: dict, **body) -> dict:
    response = await client.post("/v1/conversations", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def _store(client: httpx.AsyncClient, headers: dict, conversation_id: str, role: str,
                 content: str) -> dict:
    response = await client.post(f"/v1/conversations/{conversation_id}/items", headers=headers,
                                 json={"role": role, "content": content, "generate": False})
    assert response.status_code == 201, response.text
    assert response.json()["reply"] is None
    return response.json()["data"]


async def test_create_get_update_delete(client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest, title="Plans", metadata={"a": "1", "b": {"x": 2}},
                               model="mock-large", project_id="proj_9")
    assert conv["object"] == "conversation" and conv["item_count"] == 0
    assert (conv["model"], conv["project_id"]) == ("mock-large", "proj_9")
    empty = await client.post("/v1/conversations", headers=guest)
    assert empty.status_code == 201 and empty.json()["data"]["title"] is None

    patched = await client.patch(f"/v1/conversations/{conv['id']}", headers=guest,
                                 json={"metadata": {"a": None, "c": "3"}})
    assert patched.json()["data"]["metadata"] == {"b": {"x": 2}, "c": "3"}
    assert patched.json()["data"]["title"] == "Plans"  # untouched fields stay
    posted = await client.post(f"/v1/conversations/{conv['id']}", headers=guest,
                               json={"title": "Renamed", "model": None})
    assert posted.status_code == 200, posted.text
    assert posted.json()["data"]["title"] == "Renamed" and posted.json()["data"]["model"] is None
    assert posted.json()["data"]["metadata"] == {"b": {"x": 2}, "c": "3"}
    cleared = await client.patch(f"/v1/conversations/{conv['id']}", headers=guest,
                                 json={"metadata": None})
    assert cleared.json()["data"]["metadata"] == {}

    got = (await client.get(f"/v1/conversations/{conv['id']}", headers=guest)).json()["data"]
    assert got["items"] == [] and got["has_more_items"] is False
    assert (await client.delete(f"/v1/conversations/{conv['id']}", headers=guest)).status_code == 204
    assert_error(await client.get(f"/v1/conversations/{conv['id']}", headers=guest), 404,
                 "conversation_not_found")
    assert_error(await client.delete(f"/v1/conversations/{conv['id']}", headers=guest), 404)


async def test_metadata_limits_and_validation(client: httpx.AsyncClient, guest: dict) -> None:
    too_many = {f"k{i}": i for i in range(65)}
    assert_error(await client.post("/v1/conversations", headers=guest,
                                   json={"metadata": too_many}), 422)
    error = assert_error(await client.post("/v1/conversations", headers=guest,
                                           json={"metadata": ["not", "an", "object"]}), 422)
    assert error["param"] == "metadata"
    assert_error(await client.post("/v1/conversations", headers=guest,
                                   json={"title": "x" * 501}), 422)


async def test_get_conversation_carries_the_latest_items(client: httpx.AsyncClient,
                                                          guest: dict) -> None:
    conv = await _conversation(client, guest)
    for n in range(5):
        await _store(client, guest, conv["id"], "user", f"m{n}")
    got = (await client.get(f"/v1/conversations/{conv['id']}", headers=guest,
                            params={"items_limit": 3})).json()["data"]
    assert [i["content"] for i in got["items"]] == ["m2", "m3", "m4"]
    assert got["has_more_items"] is True and got["item_count"] == 5


async def test_conversation_paging_edges(client: httpx.AsyncClient, guest: dict) -> None:
    empty = (await client.get("/v1/conversations", headers=guest)).json()
    assert empty == {"object": "list", "data": [], "has_more": False, "first_id": None,
                     "last_id": None, "total": 0}
    created = [(await _conversation(client, guest, title=f"c{n}"))["id"] for n in range(5)]
    newest_first = created[::-1]

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    exact = await client.get("/v1/conversations", headers=guest, params={"limit": 5})
    assert ids(exact) == newest_first and exact.json()["has_more"] is False
    assert exact.json()["total"] == 5
    assert exact.json()["first_id"] == newest_first[0] and exact.json()["last_id"] == created[0]
    page = await client.get("/v1/conversations", headers=guest, params={"limit": 4})
    assert page.json()["has_more"] is True
    tail = await client.get("/v1/conversations", headers=guest, params={"limit": 2, "offset": 4})
    assert ids(tail) == newest_first[4:] and tail.json()["has_more"] is False
    beyond = await client.get("/v1/conversations", headers=guest, params={"offset": 5})
    assert ids(beyond) == [] and beyond.json()["total"] == 5

    walked, after = [], None
    for _ in range(10):
        params = {"limit": 2, **({"after": after} if after else {})}
        response = await client.get("/v1/conversations", headers=guest, params=params)
        walked += ids(response)
        after = response.json()["last_id"]
        if not response.json()["has_more"]:
            break
    assert walked == newest_first
    last = await client.get("/v1/conversations", headers=guest, params={"after": created[0]})
    assert ids(last) == [] and last.json()["has_more"] is False
    ascending = await client.get("/v1/conversations", headers=guest,
                                 params={"order": "asc", "after": created[1], "limit": 2})
    assert ids(ascending) == created[2:4] and ascending.json()["has_more"] is True
    assert_error(await client.get("/v1/conversations", headers=guest,
                                  params={"after": "conv_nope"}), 400, "invalid_cursor")
    assert_error(await client.get("/v1/conversations", headers=guest, params={"limit": 0}), 422)
    assert_error(await client.get("/v1/conversations", headers=guest, params={"limit": 101}), 422)
    assert_error(await client.get("/v1/conversations", headers=guest, params={"order": "up"}), 422)

    # a new message moves its conversation to the top
    await _store(client, guest, created[0], "user", "bump")
    assert ids(await client.get("/v1/conversations", headers=guest,
                                params={"limit": 1})) == [created[0]]


async def test_project_filter(client: httpx.AsyncClient, guest: dict) -> None:
    mine = await _conversation(client, guest, project_id="proj_a")
    await _conversation(client, guest, project_id="proj_b")
    listed = (await client.get("/v1/conversations", headers=guest,
                               params={"project_id": "proj_a"})).json()
    assert [c["id"] for c in listed["data"]] == [mine["id"]] and listed["total"] == 1


async def test_item_paging_edges(client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    url = f"/v1/conversations/{conv['id']}/items"
    empty = (await client.get(url, headers=guest)).json()
    assert empty["data"] == [] and empty["has_more"] is False and empty["total"] == 0
    stored = [(await _store(client, guest, conv["id"], "user" if n % 2 == 0 else "assistant",
                            f"m{n}"))["id"] for n in range(6)]

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["data"]]

    assert ids(await client.get(url, headers=guest)) == stored  # oldest first by default
    desc = await client.get(url, headers=guest, params={"order": "desc", "limit": 4})
    assert ids(desc) == stored[::-1][:4] and desc.json()["has_more"] is True
    exact = await client.get(url, headers=guest, params={"limit": 3, "offset": 3})
    assert ids(exact) == stored[3:] and exact.json()["has_more"] is False
    assert exact.json()["total"] == 6
    assert ids(await client.get(url, headers=guest, params={"offset": 6})) == []
    cursor = await client.get(url, headers=guest, params={"after": stored[1], "limit": 2})
    assert ids(cursor) == stored[2:4] and cursor.json()["has_more"] is True
    boundary = await client.get(url, headers=guest, params={"after": stored[3], "limit": 2})
    assert ids(boundary) == stored[4:] and boundary.json()["has_more"] is False
    after_last = await client.get(url, headers=guest, params={"after": stored[-1]})
    assert ids(after_last) == [] and after_last.json()["has_more"] is False
    back = await client.get(url, headers=guest, params={"after": stored[2], "order": "desc"})
    assert ids(back) == [stored[1], stored[0]]
    assert_error(await client.get(url, headers=guest, params={"after": "msg_nope"}), 400,
                 "invalid_cursor")
    other = await _conversation(client, guest)
    foreign_item = (await _store(client, guest, other["id"], "user", "x"))["id"]
    assert_error(await client.get(url, headers=guest, params={"after": foreign_item}), 400,
                 "invalid_cursor")


async def test_item_get_edit_delete(client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    item = await _store(client, guest, conv["id"], "user", "first draft")
    url = f"/v1/conversations/{conv['id']}/items/{item['id']}"
    got = (await client.get(url, headers=guest)).json()["data"]
    assert got == item and got["status"] == "completed" and got["versions"] == []
    edited = await client.patch(url, headers=guest, json={
        "content": [{"type": "input_text", "text": "second"}, {"type": "input_text", "text": "draft"}]})
    data = edited.json()["data"]
    assert data["content"] == "second\ndraft" and data["version"] == 2
    assert data["content_parts"][1] == {"type": "input_text", "text": "draft"}
    assert datetime.fromisoformat(data["updated_at"]) > datetime.fromisoformat(item["updated_at"])
    assert [v["content"] for v in data["versions"]] == ["first draft"]
    # the list route renders items without pydantic: it must say exactly what ItemOut says
    listed = (await client.get(f"/v1/conversations/{conv['id']}/items", headers=guest)).json()
    assert listed["data"] == [(await client.get(url, headers=guest)).json()["data"]] == [data]
    conv_listed = (await client.get("/v1/conversations", headers=guest)).json()["data"][0]
    conv_got = (await client.get(f"/v1/conversations/{conv['id']}", headers=guest)).json()["data"]
    assert conv_listed == {k: v for k, v in conv_got.items() if k not in ("items", "has_more_items")}
    versions = (await client.get(f"{url}/versions", headers=guest)).json()["data"]
    assert [(v["content"], v["current"]) for v in versions] == [("first draft", False),
                                                              ("second\ndraft", True)]
    assert_error(await client.patch(url, headers=guest, json={}), 422)
    assert (await client.delete(url, headers=guest)).status_code == 204
    assert_error(await client.get(url, headers=guest), 404, "item_not_found")
    conv_after = (await client.get(f"/v1/conversations/{conv['id']}", headers=guest)).json()
    assert conv_after["data"]["item_count"] == 0


async def test_item_body_validation(client: httpx.AsyncClient, guest: dict) -> None:
    conv = await _conversation(client, guest)
    url = f"/v1/conversations/{conv['id']}/items"
    assert_error(await client.post(url, headers=guest, json={"content": "no role"}), 422)
    assert_error(await client.post(url, headers=guest, json={"role": "robot", "content": "x"}), 422)
    assert_error(await client.post(url, headers=guest, json={
        "role": "user", "content": "x", "items": [{"role": "user", "content": "y"}]}), 422)
    assert_error(await client.post(url, headers=guest, json={"items": []}), 422)
    assert_error(await client.post(url, headers=guest, json={"items": [
        {"type": "function_call", "role": "user", "content": "x"}]}), 422)
    assert_error(await client.post(url, headers=guest, json={
        "role": "user", "content": "x", "stream": True, "generate": False}), 422)
    assert_error(await client.post(url, headers=guest, json={
        "role": "system", "content": "x", "stream": True}), 400, "invalid_value")
    assert (await client.get(url, headers=guest)).json()["data"] == []


async def test_bulk_delete_counts_only_own_ids(client: httpx.AsyncClient, guest: dict,
                                               other_guest: dict) -> None:
    mine = [(await _conversation(client, guest))["id"] for _ in range(3)]
    theirs = (await _conversation(client, other_guest))["id"]
    response = await client.post("/v1/conversations/bulk-delete", headers=guest, json={
        "conversation_ids": [mine[0], mine[1], mine[1], theirs, "conv_unknown"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"deleted_count": 2}}
    assert (await client.get(f"/v1/conversations/{theirs}", headers=other_guest)).status_code == 200
    left = (await client.get("/v1/conversations", headers=guest)).json()
    assert [c["id"] for c in left["data"]] == [mine[2]]
    assert_error(await client.post("/v1/conversations/bulk-delete", headers=guest,
                                   json={"conversation_ids": "conv_x"}), 422)


async def test_delete_all_removes_only_the_callers(client: httpx.AsyncClient, guest: dict,
                                                   other_guest: dict) -> None:
    for _ in range(3):
        conv = await _conversation(client, guest)
        await _store(client, guest, conv["id"], "user", "hi")
    theirs = await _conversation(client, other_guest)
    response = await client.delete("/v1/conversations", headers=guest)
    assert response.json() == {"data": {"deleted_count": 3}}
    assert (await client.get("/v1/conversations", headers=guest)).json()["total"] == 0
    assert (await client.get(f"/v1/conversations/{theirs['id']}", headers=other_guest)).status_code == 200


async def test_requires_authentication(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/conversations"), 401)
    assert_error(await client.post("/v1/conversations", json={}), 401)


@pytest.fixture
async def victim(client: httpx.AsyncClient, other_guest: dict) -> dict:
    """Another user's conversation, message, reply and share."""
    conv = await _conversation(client, other_guest, title="private")
    user_item = await _store(client, other_guest, conv["id"], "user", "secret question")
    reply = await _store(client, other_guest, conv["id"], "assistant", "secret answer")
    share = await client.post(f"/v1/conversations/{conv['id']}/share", headers=other_guest,
                              json={"allow_feedback": True})
    return {"conv": conv["id"], "item": user_item["id"], "reply": reply["id"],
            "share": share.json()["data"]["id"]}


async def test_another_users_ids_are_404_on_every_route(client: httpx.AsyncClient, guest: dict,
                                                        other_guest: dict, victim: dict) -> None:
    own = await _conversation(client, guest)
    c, i, r, s = victim["conv"], victim["item"], victim["reply"], victim["share"]
    base = f"/v1/conversations/{c}"
    calls = [
        ("GET", base, None), ("PATCH", base, {"title": "mine now"}),
        ("POST", base, {"title": "mine now"}), ("DELETE", base, None),
        ("GET", f"{base}/items", None),
        ("POST", f"{base}/items", {"role": "user", "content": "hi"}),
        ("POST", f"{base}/items", {"role": "user", "content": "hi", "stream": True}),
        ("POST", f"{base}/items", {"items": [{"type": "message", "role": "user", "content": "x"}]}),
        ("GET", f"{base}/items/{i}", None), ("PATCH", f"{base}/items/{i}", {"content": "x"}),
        ("DELETE", f"{base}/items/{i}", None), ("POST", f"{base}/items/{r}/regenerate", {}),
        ("GET", f"{base}/items/{i}/versions", None),
        ("POST", f"{base}/share", {"expires_in": 60}), ("GET", f"{base}/shares", None),
        # the victim's item addressed through the caller's own conversation
        ("GET", f"/v1/conversations/{own['id']}/items/{i}", None),
        ("PATCH", f"/v1/conversations/{own['id']}/items/{i}", {"content": "x"}),
        ("DELETE", f"/v1/conversations/{own['id']}/items/{i}", None),
        ("POST", f"/v1/conversations/{own['id']}/items/{r}/regenerate", {}),
        ("GET", f"/v1/conversations/{own['id']}/items/{i}/versions", None),
        ("GET", f"/v1/shares/{s}", None), ("DELETE", f"/v1/shares/{s}", None),
        ("GET", f"/v1/shares/{s}/feedback", None),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, headers=guest, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert_error(response, 404)
        assert "secret" not in response.text
    listed = (await client.get("/v1/conversations", headers=guest)).json()
    assert c not in [x["id"] for x in listed["data"]]
    shares = (await client.get("/v1/shares", headers=guest)).json()
    assert s not in [x["id"] for x in shares["data"]]
    assert_error(await client.get("/v1/conversations", headers=guest, params={"after": c}), 400,
                 "invalid_cursor")
    deleted = await client.post("/v1/conversations/bulk-delete", headers=guest,
                                json={"conversation_ids": [c]})
    assert deleted.json()["data"]["deleted_count"] == 0

    # the victim's data is untouched
    got = (await client.get(base, headers=other_guest)).json()["data"]
    assert got["title"] == "private"
    assert [x["content"] for x in got["items"]] == ["secret question", "secret answer"]
    share = (await client.get(f"/v1/shares/{s}", headers=other_guest)).json()["data"]
    assert share["status"] == "active"


async def test_malformed_ids_and_unstorable_text_are_refused(client: httpx.AsyncClient,
                                                             guest: dict) -> None:
    """PostgreSQL cannot hold NUL characters or lone surrogates: refused before any query."""
    for path in ("/v1/conversations/a%00b", "/v1/conversations/a%00b/items",
                 "/v1/conversations/conv_x/items/m%00", "/v1/shares/x%00",
                 "/v1/public/shares/x%00"):
        assert_error(await client.get(path, headers=guest), 422)
    assert_error(await client.get("/v1/conversations", headers=guest,
                                  params={"after": "a\x00b"}), 422)
    assert_error(await client.get("/v1/conversations", headers=guest,
                                  params={"project_id": "p\x00"}), 422)
    assert (await client.get("/share/x%00")).status_code == 404
    assert_error(await client.post("/v1/conversations/bulk-delete", headers=guest,
                                   json={"conversation_ids": ["a\x00"]}), 422)
    for body in ({"title": "a\x00"}, {"metadata": {"k": ["ok", "a\x00"]}},
                 {"metadata": {"k\x00": 1}}):
        assert_error(await client.post("/v1/conversations", headers=guest, json=body), 422)
    surrogate = await client.post("/v1/conversations", headers={
        **guest, "content-type": "application/json"}, content=b'{"title": "\\ud800"}')
    assert surrogate.status_code in (400, 422), surrogate.text
    conv = await _conversation(client, guest)
    url = f"/v1/conversations/{conv['id']}/items"
    assert_error(await client.post(url, headers=guest, json={"role": "user", "content": "a\x00"}), 422)
    assert_error(await client.post(url, headers=guest, json={"items": [
        {"role": "user", "content": [{"type": "input_text", "text": "\x00"}]}]}), 422)
    item = await _store(client, guest, conv["id"], "user", "fine")
    assert_error(await client.patch(f"{url}/{item['id']}", headers=guest,
                                    json={"content": "x\x00"}), 422)
    chat = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conv["id"],
        "messages": [{"role": "user", "content": "a\x00"}]})
    assert_error(chat, 400)
    assert_error(await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": "conv_\x00",
        "messages": [{"role": "user", "content": "a"}]}), 404, "conversation_not_found")
    assert [i["content"] for i in (await client.get(url, headers=guest)).json()["data"]] == ["fine"]


async def test_deep_offsets_page_like_shallow_ones(client: httpx.AsyncClient, guest: dict) -> None:
    """Offsets from 100 take the index-seek path: same pages as a plain OFFSET would give."""
    conv = await _conversation(client, guest)
    url = f"/v1/conversations/{conv['id']}/items"
    ids: list[str] = []
    for start, end in ((0, 100), (100, 130)):
        response = await client.post(url, headers=guest, json={"items": [
            {"role": "user", "content": f"m{n}"} for n in range(start, end)]})
        ids += [i["id"] for i in response.json()["data"]]

    async def item_ids(**params) -> tuple[list[str], bool, int]:
        body = (await client.get(url, headers=guest, params=params)).json()
        return [i["id"] for i in body["data"]], body["has_more"], body["total"]

    assert await item_ids(offset=100, limit=20) == (ids[100:120], True, 130)
    assert await item_ids(offset=120, limit=20) == (ids[120:], False, 130)
    assert await item_ids(offset=130) == ([], False, 130)
    assert await item_ids(offset=105, limit=10, order="desc") == (ids[::-1][105:115], True, 130)
    assert await item_ids(after=ids[5], offset=100, limit=50) == (ids[106:], False, 130)
    assert await item_ids(after=ids[20], offset=100, order="desc") == ([], False, 130)
    assert await item_ids(after=ids[125], offset=100, order="desc", limit=3) == (
        ids[24:21:-1], True, 130)
    # a deleted item leaves a gap in the positions: offsets are counted on the index then
    assert (await client.delete(f"{url}/{ids[7]}", headers=guest)).status_code == 204
    left = ids[:7] + ids[8:]
    assert await item_ids(offset=100, limit=20) == (left[100:120], True, 129)
    assert await item_ids(offset=105, limit=10, order="desc") == (left[::-1][105:115], True, 129)
    assert await item_ids(after=ids[5], offset=100, limit=50) == (left[106:], False, 129)
    before_125 = [i for i in ids[124::-1] if i != ids[7]]
    assert await item_ids(after=ids[125], offset=100, order="desc", limit=50) == (
        before_125[100:], False, 129)

    created = [(await _conversation(client, guest))["id"] for _ in range(120)]
    newest_first = created[::-1]

    async def conversation_ids(**params) -> tuple[list[str], bool, int]:
        body = (await client.get("/v1/conversations", headers=guest, params=params)).json()
        return [c["id"] for c in body["data"]], body["has_more"], body["total"]

    total = 121  # and the one holding the items, updated before the others were made
    assert await conversation_ids(offset=100, limit=15) == (newest_first[100:115], True, total)
    assert await conversation_ids(offset=110, limit=20) == (
        [*newest_first[110:], conv["id"]], False, total)
    assert await conversation_ids(offset=121) == ([], False, total)
    assert await conversation_ids(offset=101, limit=10, order="asc") == (
        created[100:110], True, total)
    assert await conversation_ids(after=newest_first[3], offset=100, limit=50) == (
        [*newest_first[104:], conv["id"]], False, total)


async def test_input_caps_are_422_naming_the_field(client, guest) -> None:
    from support.asserts import assert_error

    conv = (await client.post("/v1/conversations", headers=guest, json={"title": "caps"})).json()["data"]
    url = f"/v1/conversations/{conv['id']}/items"
    huge = await client.post(url, headers=guest, json={"role": "user", "content": "x" * 200_001,
                                                        "generate": False})
    assert assert_error(huge, 422)["param"].startswith("content")
    too_many = await client.post("/v1/conversations/bulk-delete", headers=guest,
                                 json={"conversation_ids": ["conv_x"] * 1001})
    assert assert_error(too_many, 422)["param"] == "conversation_ids"
    page = await client.get("/v1/conversations", headers=guest, params={"limit": 101})
    assert assert_error(page, 422)["param"] == "limit"
    meta = await client.post("/v1/conversations", headers=guest,
                             json={"metadata": {f"k{i}": "v" for i in range(65)}})
    assert meta.status_code == 422, meta.text
