"""GET /v1/conversations?q=: the web app's title search (case-insensitive substring)."""

from __future__ import annotations

import httpx

from support.asserts import assert_error


async def _titled(client: httpx.AsyncClient, headers: dict, *titles: str | None) -> list[str]:
    ids = []
    for title in titles:
        body = {"title": title} if title is not None else {}
        ids.append((await client.post("/v1/conversations", headers=headers, json=body)).json()["data"]["id"])
    return ids


def _titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["title"] for c in response.json()["data"]]


async def test_search_matches_titles_case_insensitively_newest_first(
        client: httpx.AsyncClient, guest: dict, other_guest: dict) -> None:
    await _titled(client, guest, "Trip to Lisbon", "lisbon food", "Budget", None, "LISBON again")
    await _titled(client, other_guest, "Lisbon (someone else's)")
    found = await client.get("/v1/conversations", headers=guest, params={"q": "lisbon"})
    assert _titles(found) == ["LISBON again", "lisbon food", "Trip to Lisbon"]
    assert found.json()["total"] == 3
    assert _titles(await client.get("/v1/conversations", headers=guest,
                                    params={"q": "lisbon", "order": "asc"})) == [
        "Trip to Lisbon", "lisbon food", "LISBON again"]
    assert _titles(await client.get("/v1/conversations", headers=guest, params={"q": "nowhere"})) == []
    # An empty query lists everything.
    assert len(_titles(await client.get("/v1/conversations", headers=guest, params={"q": ""}))) == 5


async def test_search_pages_by_offset_and_cursor(client: httpx.AsyncClient, guest: dict) -> None:
    await _titled(client, guest, *[f"note {i}" for i in range(5)], "other")
    first = (await client.get("/v1/conversations", headers=guest,
                              params={"q": "note", "limit": 2})).json()
    assert [c["title"] for c in first["data"]] == ["note 4", "note 3"]
    assert first["has_more"] is True and first["total"] == 5
    second = (await client.get("/v1/conversations", headers=guest,
                               params={"q": "note", "limit": 2, "offset": 2})).json()
    assert [c["title"] for c in second["data"]] == ["note 2", "note 1"]
    after = (await client.get("/v1/conversations", headers=guest,
                              params={"q": "note", "limit": 10, "after": first["last_id"]})).json()
    assert [c["title"] for c in after["data"]] == ["note 2", "note 1", "note 0"]
    assert after["has_more"] is False


async def test_like_wildcards_are_literal(client: httpx.AsyncClient, guest: dict) -> None:
    await _titled(client, guest, "100% done", "1000 done", "snake_case", "snakeXcase", "back\\slash")
    assert _titles(await client.get("/v1/conversations", headers=guest, params={"q": "100%"})) == ["100% done"]
    assert _titles(await client.get("/v1/conversations", headers=guest, params={"q": "e_c"})) == ["snake_case"]
    assert _titles(await client.get("/v1/conversations", headers=guest, params={"q": "k\\s"})) == ["back\\slash"]


async def test_bad_queries(client: httpx.AsyncClient, guest: dict) -> None:
    assert_error(await client.get("/v1/conversations", headers=guest, params={"q": "a\x00"}), 422)
    assert_error(await client.get("/v1/conversations", headers=guest, params={"q": "x" * 201}), 422)
