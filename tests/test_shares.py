"""Share links: the public JSON and HTML page (escaped, CSP, no owner identity), snapshot,
expiry and revocation (410), feedback, fork, and the owner's listing."""

from __future__ import annotations

import asyncio
import re

import httpx

from support.asserts import assert_error

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


async def _conversation_with_messages(client: httpx.AsyncClient, headers: dict,
                                      title: str = "Trip") -> str:
    conv = (await client.post("/v1/conversations", headers=headers,
                              json={"title": title, "metadata": {"secret": "meta"}})).json()
    conv_id = conv["data"]["id"]
    for role, content in (("user", "Where to?"), ("assistant", "Lisbon.")):
        response = await client.post(f"/v1/conversations/{conv_id}/items", headers=headers,
                                     json={"role": role, "content": content, "generate": False})
        assert response.status_code == 201
    return conv_id


async def _share(client: httpx.AsyncClient, headers: dict, conv_id: str, **body) -> dict:
    response = await client.post(f"/v1/conversations/{conv_id}/share", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _path(share: dict) -> str:
    return share["share_link"].removeprefix("http://parlay.test")


async def test_public_json_shows_messages_but_not_the_owner(client: httpx.AsyncClient,
                                                            guest: dict) -> None:
    me = (await client.get("/llm/auth/me", headers=guest)).json()["data"]["id"]
    conv_id = await _conversation_with_messages(client, guest)
    share = await _share(client, guest, conv_id, expires_in=3600)
    assert len(share["share_token"]) >= 43  # 256 random bits, urlsafe base64
    assert share["status"] == "active" and share["read_only"] is True
    assert share["allow_feedback"] is False and share["conversation_id"] == conv_id
    response = await client.get(f"/v1/public/shares/{share['share_token']}")  # no auth
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["title"] == "Trip" and data["truncated"] is False
    assert [(i["role"], i["content"]) for i in data["items"]] == [("user", "Where to?"),
                                                                  ("assistant", "Lisbon.")]
    for private in (me, conv_id, "secret", share["id"]):
        assert private not in response.text
    page = await client.get(_path(share))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for private in (me, conv_id, "secret"):
        assert private not in page.text
    assert "Lisbon." in page.text and 'name="viewport"' in page.text


async def test_share_page_escapes_hostile_content_under_a_strict_csp(
        client: httpx.AsyncClient, guest: dict) -> None:
    conv_id = (await client.post("/v1/conversations", headers=guest,
                                 json={"title": HOSTILE})).json()["data"]["id"]
    await client.post(f"/v1/conversations/{conv_id}/items", headers=guest,
                      json={"role": "user", "content": HOSTILE, "generate": False})
    page = await client.get(_path(await _share(client, guest, conv_id)))
    assert page.status_code == 200
    # The one script is Parlay's own (renders replies' Markdown through the app's sanitiser).
    scripts = re.findall(r"<script[^>]*>", page.text, re.IGNORECASE)
    assert scripts == ['<script type="module" src="/assets/' + scripts[0].split("/")[2]
                       + '/share/page.js">']
    assert "<img" not in page.text.lower()
    assert page.text.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") == 3  # title x2, body
    assert "&amp; &quot;quotes&quot;" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-" not in csp
    assert re.search(r"style-src 'self' 'sha256-[A-Za-z0-9+/=]+'", csp)
    assert "script-src 'self';" in csp  # same-origin files only: no inline script runs
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert not re.search(r"(src|href)=\"https?://", page.text)  # no external assets


async def test_share_is_a_snapshot(client: httpx.AsyncClient, guest: dict) -> None:
    conv_id = await _conversation_with_messages(client, guest)
    share = await _share(client, guest, conv_id)
    await client.post(f"/v1/conversations/{conv_id}/items", headers=guest,
                      json={"role": "user", "content": "later, private", "generate": False})
    data = (await client.get(f"/v1/public/shares/{share['share_token']}")).json()["data"]
    assert [i["content"] for i in data["items"]] == ["Where to?", "Lisbon."]


async def test_expired_share_is_410(client: httpx.AsyncClient, guest: dict) -> None:
    conv_id = await _conversation_with_messages(client, guest)
    share = await _share(client, guest, conv_id, expires_in=1)
    assert (await client.get(f"/v1/public/shares/{share['share_token']}")).status_code == 200
    await asyncio.sleep(1.1)
    assert_error(await client.get(f"/v1/public/shares/{share['share_token']}"), 410,
                 "share_expired")
    page = await client.get(_path(share))
    assert page.status_code == 410 and "expired" in page.text
    assert "content-security-policy" in page.headers
    listed = (await client.get(f"/v1/conversations/{conv_id}/shares", headers=guest)).json()
    assert [s["status"] for s in listed["data"]] == ["expired"]


async def test_revoked_share_is_410_and_unknown_is_404(client: httpx.AsyncClient,
                                                       guest: dict) -> None:
    conv_id = await _conversation_with_messages(client, guest)
    share = await _share(client, guest, conv_id, allow_feedback=True, read_only=False)
    assert (await client.delete(f"/v1/shares/{share['id']}", headers=guest)).status_code == 204
    assert (await client.delete(f"/v1/shares/{share['id']}", headers=guest)).status_code == 204
    token = share["share_token"]
    assert_error(await client.get(f"/v1/public/shares/{token}"), 410, "share_revoked")
    assert_error(await client.post(f"/v1/public/shares/{token}/feedback", json={"rating": 5}),
                 410, "share_revoked")
    assert_error(await client.post(f"/v1/public/shares/{token}/fork", headers=guest), 410,
                 "share_revoked")
    assert (await client.get(_path(share))).status_code == 410
    assert_error(await client.get("/v1/public/shares/not-a-token"), 404, "share_not_found")
    assert (await client.get("/share/not-a-token")).status_code == 404
    got = (await client.get(f"/v1/shares/{share['id']}", headers=guest)).json()["data"]
    assert got["status"] == "revoked" and got["revoked_at"]


async def test_deleting_the_conversation_revokes_its_shares(client: httpx.AsyncClient,
                                                            guest: dict) -> None:
    conv_ids = [await _conversation_with_messages(client, guest) for _ in range(2)]
    shares = [await _share(client, guest, conv_id) for conv_id in conv_ids]
    await client.post("/v1/conversations/bulk-delete", headers=guest,
                      json={"conversation_ids": [conv_ids[0]]})
    assert_error(await client.get(f"/v1/public/shares/{shares[0]['share_token']}"), 410,
                 "share_revoked")
    assert (await client.get(f"/v1/public/shares/{shares[1]['share_token']}")).status_code == 200
    await client.delete("/v1/conversations", headers=guest)
    assert_error(await client.get(f"/v1/public/shares/{shares[1]['share_token']}"), 410,
                 "share_revoked")


async def test_feedback(client: httpx.AsyncClient, guest: dict, other_guest: dict) -> None:
    conv_id = await _conversation_with_messages(client, guest)
    closed = await _share(client, guest, conv_id)
    assert_error(await client.post(f"/v1/public/shares/{closed['share_token']}/feedback",
                                   json={"rating": 4}), 403, "feedback_disabled")
    share = await _share(client, guest, conv_id, allow_feedback=True)
    url = f"/v1/public/shares/{share['share_token']}/feedback"
    created = await client.post(url, json={"rating": 5, "comment": "great <b>answer</b>"})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["rating"] == 5
    assert_error(await client.post(url, json={"rating": 9}), 422)
    assert_error(await client.post(url, json={}), 422)
    assert_error(await client.post(url, json={"comment": "a\x00"}), 422)
    listed = (await client.get(f"/v1/shares/{share['id']}/feedback", headers=guest)).json()
    assert [(f["rating"], f["comment"]) for f in listed["data"]] == [(5, "great <b>answer</b>")]
    assert_error(await client.get(f"/v1/shares/{share['id']}/feedback", headers=other_guest), 404)


async def test_fork_into_the_viewers_own_conversation(client: httpx.AsyncClient, guest: dict,
                                                      other_guest: dict) -> None:
    conv_id = await _conversation_with_messages(client, guest)
    read_only = await _share(client, guest, conv_id)
    assert_error(await client.post(f"/v1/public/shares/{read_only['share_token']}/fork",
                                   headers=other_guest), 403, "share_read_only")
    share = await _share(client, guest, conv_id, read_only=False)
    url = f"/v1/public/shares/{share['share_token']}/fork"
    assert_error(await client.post(url), 401)
    forked = await client.post(url, headers=other_guest)
    assert forked.status_code == 201, forked.text
    copy = forked.json()["data"]
    assert copy["id"] != conv_id and copy["title"] == "Trip" and copy["item_count"] == 2
    assert copy["metadata"] == {"forked_from_share": share["id"]}  # not the owner's metadata
    items = (await client.get(f"/v1/conversations/{copy['id']}/items", headers=other_guest)).json()
    assert [i["content"] for i in items["data"]] == ["Where to?", "Lisbon."]
    assert_error(await client.get(f"/v1/conversations/{copy['id']}", headers=guest), 404)
    # the copy is independent of the original
    await client.delete(f"/v1/conversations/{conv_id}", headers=guest)
    assert (await client.get(f"/v1/conversations/{copy['id']}", headers=other_guest)).status_code == 200


async def test_owner_lists_shares(client: httpx.AsyncClient, guest: dict) -> None:
    first = await _conversation_with_messages(client, guest)
    second = await _conversation_with_messages(client, guest)
    a = await _share(client, guest, first)
    b = await _share(client, guest, second)
    c = await _share(client, guest, second, expires_in=None)
    everything = (await client.get("/v1/shares", headers=guest)).json()
    assert [s["id"] for s in everything["data"]] == [c["id"], b["id"], a["id"]]
    assert everything["total"] == 3 and c["expires_at"] is None
    page = (await client.get("/v1/shares", headers=guest, params={"limit": 2})).json()
    assert page["has_more"] is True
    of_second = (await client.get(f"/v1/conversations/{second}/shares", headers=guest)).json()
    assert [s["id"] for s in of_second["data"]] == [c["id"], b["id"]]
    assert all(s["share_link"].endswith(s["share_token"]) for s in of_second["data"])
    assert_error(await client.post(f"/v1/conversations/{first}/share", headers=guest,
                                   json={"expires_in": 0}), 422)


async def test_share_link_uses_the_request_host_without_public_url(
        database_url: str, mock_upstream) -> None:
    from conftest import make_settings, new_guest, running_app

    settings = make_settings(database_url, public_url=None)
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://chat.example:8443",
                                     timeout=30) as client:
            headers = await new_guest(client)
            conv_id = await _conversation_with_messages(client, headers)
            share = await _share(client, headers, conv_id)
    assert share["share_link"] == f"https://chat.example:8443/share/{share['share_token']}"
