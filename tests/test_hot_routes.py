"""The hot routes (api/hot_routes.py, db/direct.py): the same bytes as the FastAPI routes and
as their response models' own serialisation, the same errors, the same fall-through for
anything they do not take as it is; and appends that never lose or repeat a position."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from pydantic import TypeAdapter
from sqlalchemy import make_url, select
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_dialect

from conftest import asgi_client, make_settings, new_guest
from parlay.api.auth import UserOut
from parlay.api.conversations import ConversationDetail, ConversationOut
from parlay.api.hot_routes import HotRoutes
from parlay.api.items import ItemCreated, ItemOut, ItemsCreated
from parlay.api.schemas import Data, Page
from parlay.api.settings import SettingsOut
from parlay.app import create_app
from parlay.db.direct import DirectDB
from parlay.db.models.conversations import ConversationItem
from parlay.services.items import ItemService, ItemStore, NewItem
from support import private_pg
from support.asserts import assert_error
from support.mock_upstream import MockUpstream


@pytest.fixture(scope="session")
async def routed_app(database_url: str, mock_upstream: MockUpstream) -> AsyncIterator[Any]:
    """The same app on the same database with the hot path taken out: FastAPI's routes."""
    settings = make_settings(database_url, openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key")
    app = create_app(settings, hot_routes=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def routed(routed_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(routed_app) as http:
        yield http


# The response models the routes declare (what OpenAPI documents).
MODELS: dict[tuple[str, str], Any] = {
    ("GET", "/v1/conversations"): Page[ConversationOut],
    ("GET", "/v1/conversations/{conversation_id}"): Data[ConversationDetail],
    ("GET", "/v1/conversations/{conversation_id}/items"): Page[ItemOut],
    ("GET", "/v1/conversations/{conversation_id}/items/{item_id}"): Data[ItemOut],
    ("GET", "/v1/users/me/settings"): Data[SettingsOut],
    ("GET", "/llm/auth/me"): Data[UserOut],
    ("POST", "/v1/conversations/{conversation_id}/items"): ItemCreated | ItemsCreated,
}


def _model_of(_app: Any, method: str, path: str) -> TypeAdapter:
    return TypeAdapter(MODELS[(method, path)])


async def _seed(client: httpx.AsyncClient, app: Any, headers: dict) -> dict[str, str]:
    """A conversation with plain, structured, non-ASCII, edited, assistant and tool items,
    one with metadata (as replies record what produced them) and an edited version of it."""
    conv = (await client.post("/v1/conversations", headers=headers, json={
        "title": "Grüße ✓", "metadata": {"tag": "x", "n": 1.5}, "project_id": "p1",
        "items": [{"role": "user", "content": "plain"},
                  {"role": "user", "content": [{"type": "input_text", "text": "parts"},
                                               {"type": "input_image", "image_url": "u"}]}],
    })).json()["data"]["id"]
    replied = await client.post(f"/v1/conversations/{conv}/items", headers=headers,
                                json={"role": "user", "content": "naïve ünïcode \u2028 </script>"})
    assert replied.status_code == 201, replied.text
    reply = replied.json()["reply"]
    assert reply["usage"] and reply["model"]
    edited = replied.json()["data"]["id"]
    for text in ("second", "third"):
        response = await client.patch(f"/v1/conversations/{conv}/items/{edited}",
                                      headers=headers, json={"content": text})
        assert response.status_code == 200, response.text
    user_id = (await client.get("/llm/auth/me", headers=headers)).json()["data"]["id"]
    async with app.state.ctx.sessionmaker() as session:
        noted = (await ItemService(session).add(user_id, conv, [
            NewItem(role="assistant", content="with notes", model="mock-small",
                    meta={"memories": [{"id": "mem_1", "score": 0.82}], "stopped": False}),
            NewItem(type="function_call_output", role="tool", content="42",
                    content_parts=[{"type": "function_call_output", "call_id": "c1",
                                    "output": "42", "status": "ok"}],
                    meta={"tool": "calc"})]))[0].id
    renoted = await client.patch(f"/v1/conversations/{conv}/items/{noted}", headers=headers,
                                 json={"content": "noted again"})
    assert renoted.json()["data"]["versions"][0]["metadata"]["memories"][0]["score"] == 0.82
    other = (await client.post("/v1/conversations", headers=headers,
                               json={"title": "other"})).json()["data"]["id"]
    await client.patch("/v1/users/me/settings", headers=headers, json={
        "profile_settings": {"nick_name": "Ünï"}, "memory_config": {"min_similarity": 0.5},
        "preferences": {"theme": "dark", "list": [1, 2.5, None]}})
    return {"conv": conv, "other": other, "edited": edited, "reply": reply["id"],
            "noted": noted}


def _get_cases(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    conv, items = f"/v1/conversations/{ids['conv']}", "/v1/conversations/{conversation_id}"
    return [
        *(("/v1/conversations", "/v1/conversations", params) for params in (
            {}, {"limit": 1}, {"limit": 1, "offset": 1}, {"after": ids["other"]},
            {"order": "asc", "limit": "2"}, {"project_id": "p1"}, {"project_id": "none"},
            {"offset": 500}, {"limit": 0}, {"limit": "x"}, {"limit": 101}, {"offset": -1},
            {"order": "up"}, {"after": "bad id"}, {"after": "conv_nope"}, {"after": ""},
            {"unknown": "ignored"})),
        *((items, conv, params) for params in (
            {}, {"items_limit": 2}, {"items_limit": 0}, {"items_limit": 1001},
            {"items_limit": "two"})),
        (items, f"/v1/conversations/{ids['other']}", {}),
        (items, "/v1/conversations/conv_nope", {}),
        (items, "/v1/conversations/bad.id", {}),
        *((items + "/items", conv + "/items", params) for params in (
            {}, {"limit": 2}, {"limit": 2, "offset": 3}, {"order": "desc", "limit": 3},
            {"after": ids["edited"]}, {"after": ids["edited"], "order": "desc"},
            {"offset": 150}, {"after": "msg_nope"}, {"limit": 101}, {"order": "sideways"})),
        (items + "/items", f"/v1/conversations/{ids['other']}/items", {}),
        (items + "/items", "/v1/conversations/conv_nope/items", {}),
        *((items + "/items/{item_id}", f"{conv}/items/{item}", {})
          for item in (ids["edited"], ids["reply"], ids["noted"], "msg_nope", "bad.id",
                       "msg%0A")),
        ("/v1/users/me/settings", "/v1/users/me/settings", {}),
        ("/llm/auth/me", "/llm/auth/me", {}),
    ]


async def test_same_bytes_as_the_routes_and_their_models(
        client: httpx.AsyncClient, routed: httpx.AsyncClient, app: Any, guest: dict) -> None:
    ids = await _seed(client, app, guest)
    guest_id = (await client.get("/llm/auth/me", headers=guest)).json()["data"]["id"]
    stranger = await new_guest(client)
    checked = 0
    for template, path, params in _get_cases(ids):
        for headers in (guest, stranger, {}):
            request_headers = {**headers, "X-Request-ID": f"req-{secrets.token_hex(4)}"}
            fast = await client.get(path, params=params, headers=request_headers)
            slow = await routed.get(path, params=params, headers=request_headers)
            assert (fast.status_code, fast.content) == (slow.status_code, slow.content), \
                (path, params)
            assert fast.headers["content-type"] == slow.headers["content-type"]
            if fast.status_code == 200:
                model = _model_of(app, "GET", template)
                assert fast.content == model.dump_json(model.validate_json(fast.content))
                checked += 1
    assert checked >= 30
    # The hot page holds what the ORM reads (ItemService's views, rendered by ItemOut).
    page = await client.get(f"/v1/conversations/{ids['conv']}/items", headers=guest)
    async with app.state.ctx.sessionmaker() as session:
        service = ItemService(session)
        views = [await service.view(guest_id, ids["conv"], item["id"])
                 for item in page.json()["data"]]
    model = TypeAdapter(Page[ItemOut])
    orm_page = Page[ItemOut](data=[ItemOut.of(v) for v in views], has_more=False,
                             first_id=views[0].id, last_id=views[-1].id, total=len(views))
    assert page.content == model.dump_json(orm_page)
    assert any(v.metadata for v in views) and any(v.versions for v in views)
    got = (await client.get(f"/v1/conversations/{ids['conv']}/items/{ids['edited']}",
                            headers=guest)).json()["data"]
    assert got["content"] == "third" and got["version"] == 3
    assert [v["content"] for v in got["versions"]] == ["naïve ünïcode \u2028 </script>",
                                                      "second"]


async def test_store_only_messages_match_their_model_and_the_routes_errors(
        client: httpx.AsyncClient, routed: httpx.AsyncClient, app: Any, guest: dict,
        mock_upstream: MockUpstream) -> None:
    conv = (await client.post("/v1/conversations", headers=guest)).json()["data"]["id"]
    url = f"/v1/conversations/{conv}/items"
    template = "/v1/conversations/{conversation_id}/items"
    model = _model_of(app, "POST", template)
    calls = len(mock_upstream.chat_requests())
    one = await client.post(url, headers=guest, json={"role": "user", "content": "é",
                                                      "generate": False})
    assert one.status_code == 201 and one.json()["reply"] is None
    assert one.content == model.dump_json(model.validate_json(one.content))
    many = await client.post(url, headers=guest, json={"items": [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "b"}]}]})
    assert many.status_code == 201
    assert many.content == model.dump_json(model.validate_json(many.content))
    assert len(mock_upstream.chat_requests()) == calls  # nothing was answered
    stored = [one.json()["data"], *many.json()["data"]]
    listed = (await client.get(url, headers=guest)).json()["data"]
    assert listed == stored
    item = (await client.get(f"{url}/{stored[0]['id']}", headers=guest)).json()["data"]
    assert item == stored[0]

    stranger = await new_guest(client)
    cases: list[tuple[dict, dict[str, Any]]] = [
        (guest, {"json": {"role": "user", "content": "nul \x00", "generate": False}}),
        (guest, {"json": {"role": "user", "generate": False}}),
        (guest, {"json": {"role": "robot", "content": "x", "generate": False}}),
        (guest, {"content": b'{"role": "user", "content": ', "headers": {
            "Content-Type": "application/json"}}),
        (guest, {"content": b'{"role": "user", "content": NaN, "generate": false}',
                 "headers": {"Content-Type": "application/json"}}),
        (stranger, {"json": {"role": "user", "content": "x", "generate": False}}),
        ({}, {"json": {"role": "user", "content": "x", "generate": False}}),
    ]
    for headers, request in cases:
        request_id = f"req-{secrets.token_hex(4)}"
        sent = {**request, "headers": {**headers, **request.get("headers", {}),
                                       "X-Request-ID": request_id}}
        fast = await client.post(url, **sent)
        slow = await routed.post(url, **sent)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content), request
        assert fast.status_code >= 400
    assert_error(await client.post("/v1/conversations/conv_nope/items", headers=guest, json={
        "role": "user", "content": "x", "generate": False}), 404, "conversation_not_found")
    assert len((await client.get(url, headers=guest)).json()["data"]) == 3


async def test_a_message_that_wants_a_reply_reaches_the_pipeline(
        client: httpx.AsyncClient, guest: dict) -> None:
    conv = (await client.post("/v1/conversations", headers=guest)).json()["data"]["id"]
    for body in ({"role": "user", "content": "hi"},
                 {"items": [{"role": "user", "content": "hi"}], "generate": True}):
        answered = await client.post(f"/v1/conversations/{conv}/items", headers=guest,
                                     json=body)
        assert answered.status_code == 201, answered.text
        assert answered.json()["reply"]["content"] == "echo: hi"


async def test_the_hot_path_answers_without_the_router(app: Any, guest: dict) -> None:
    """HotRoutes in front of a router that must not run: what it takes, it answers itself;
    what it does not take, it hands on."""
    handed_on: list[str] = []

    async def router(scope: dict, receive: Any, send: Any) -> None:
        handed_on.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    hot = HotRoutes(router)

    async def with_app(scope: dict, receive: Any, send: Any) -> None:
        scope["app"] = app
        scope.setdefault("state", {})
        await hot(scope, receive, send)

    conv = "conv_" + secrets.token_hex(12)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_app),
                                 base_url="http://testserver") as http:
        for path in ("/v1/conversations", "/v1/users/me/settings", "/llm/auth/me"):
            assert (await http.get(path, headers=guest)).status_code == 200
        assert (await http.get(f"/v1/conversations/{conv}/items", headers=guest)).status_code == 404
        assert (await http.post(f"/v1/conversations/{conv}/items", headers=guest, json={
            "role": "user", "content": "x", "generate": False})).status_code == 404
        assert handed_on == []
        await http.get("/v1/conversations", params={"limit": 0}, headers=guest)
        await http.get("/v1/conversations/", headers=guest)
        await http.post(f"/v1/conversations/{conv}/items", headers=guest,
                        json={"role": "user", "content": "x"})
        await http.get("/healthz")
    assert handed_on == ["/v1/conversations", "/v1/conversations/",
                         f"/v1/conversations/{conv}/items", "/healthz"]


async def test_concurrent_appends_to_one_conversation_keep_every_position(
        client: httpx.AsyncClient, app: Any, guest: dict) -> None:
    conv = (await client.post("/v1/conversations", headers=guest)).json()["data"]["id"]
    url = f"/v1/conversations/{conv}/items"

    async def append(n: int) -> httpx.Response:
        if n % 4 == 3:  # batches of three land side by side
            body = {"items": [{"role": "user", "content": f"{n}.{k}"} for k in range(3)]}
        else:
            body = {"role": "user", "content": str(n), "generate": False}
        return await client.post(url, headers=guest, json=body)

    responses = await asyncio.gather(*(append(n) for n in range(32)))
    assert [r.status_code for r in responses] == [201] * 32
    async with app.state.ctx.sessionmaker() as session:
        rows = (await session.execute(
            select(ConversationItem.position, ConversationItem.content)
            .where(ConversationItem.conversation_id == conv)
            .order_by(ConversationItem.position))).all()
    assert [position for position, _ in rows] == list(range(48))  # 24 singles + 8 batches of 3
    contents = [content for _, content in rows]
    assert sorted(contents) == sorted([str(n) for n in range(32) if n % 4 != 3]
                                      + [f"{n}.{k}" for n in range(3, 32, 4) for k in range(3)])
    for n in range(3, 32, 4):
        first = contents.index(f"{n}.0")
        assert contents[first:first + 3] == [f"{n}.0", f"{n}.1", f"{n}.2"]
    got = (await client.get(f"/v1/conversations/{conv}", headers=guest,
                            params={"items_limit": 0})).json()["data"]
    assert got["item_count"] == 48 and got["has_more_items"] is True


async def test_expired_and_forged_tokens_are_refused_even_once_verified(
        client: httpx.AsyncClient, app: Any, guest: dict) -> None:
    user_id = (await client.get("/llm/auth/me", headers=guest)).json()["data"]["id"]
    secret = app.state.ctx.jwt_secret
    now = time.time()
    short = jwt.encode({"sub": user_id, "role": "guest", "typ": "access", "iat": now,
                        "exp": int(now) + 2}, secret, algorithm="HS256")
    assert (await client.get("/llm/auth/me", headers={
        "Authorization": f"Bearer {short}"})).status_code == 200
    head, payload, _signature = short.split(".")
    forged = f"{head}.{payload}.{secrets.token_urlsafe(32)}"
    assert_error(await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {forged}"}),
                 401, "invalid_token")
    await asyncio.sleep(int(now) + 2.05 - time.time())
    assert_error(await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {short}"}),
                 401, "token_expired")


async def test_hot_routes_are_rate_limited_and_measured(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/p.db", rate_limits="api=2/min")
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        headers = await new_guest(client)
        first = await client.get("/v1/conversations", headers=headers)
        assert first.headers["x-ratelimit-limit"] == "2"
        assert (await client.get("/v1/users/me/settings", headers=headers)).status_code == 200
        assert_error(await client.get("/llm/auth/me", headers=headers), 429, "rate_limited")
        metrics = (await client.get("/metrics")).text
    assert 'route="/v1/conversations",status="200"' in metrics
    assert 'route="/llm/auth/me",status="429"' in metrics


async def test_sqlite_reads_over_budget_run_in_the_pool(tmp_path: Any) -> None:
    """A statement that outlasts the event loop's budget is stopped and run again off the
    loop: same rows."""
    settings = make_settings(f"sqlite:///{tmp_path}/p.db")
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        headers = await new_guest(client)
        user_id = (await client.get("/llm/auth/me", headers=headers)).json()["data"]["id"]
        conv = (await client.post("/v1/conversations", headers=headers, json={"items": [
            {"role": "user", "content": f"m{n}"} for n in range(60)]})).json()["data"]["id"]
        ctx = app.state.ctx
        quick = await ItemStore(ctx.direct).page(user_id, conv, limit=50, offset=5)
        assert ctx.direct.sqlite is not None and ctx.direct.sqlite.deferred == 0
        slow = DirectDB(ctx.engine.url, ctx.engine.dialect, inline_budget=0.0)
        try:
            deferred = await ItemStore(slow).page(user_id, conv, limit=50, offset=5)
            assert slow.sqlite is not None and slow.sqlite.deferred > 0
        finally:
            await slow.aclose()
    assert deferred == quick and len(quick.rows) == 50 and quick.total == 60


async def test_database_restart_gives_503_then_the_hot_routes_recover() -> None:
    server = private_pg.PrivatePostgres().init()
    server.start()
    try:
        settings = make_settings(server.url)
        app = create_app(settings)
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            headers = await new_guest(client)
            conv = (await client.post("/v1/conversations", headers=headers)).json()["data"]["id"]
            url = f"/v1/conversations/{conv}/items"
            assert (await client.get(url, headers=headers)).status_code == 200
            await asyncio.to_thread(server.stop, "immediate")
            during = await client.get(url, headers=headers)
            assert_error(during, 503, "database_unavailable")
            assert during.headers["retry-after"] == "1"
            assert_error(await client.post(url, headers=headers, json={
                "role": "user", "content": "lost?", "generate": False}), 503,
                "database_unavailable")
            await asyncio.to_thread(server.start)
            for _ in range(50):  # no restart of Parlay: the pool reconnects by itself
                if (await client.get(url, headers=headers)).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get(url, headers=headers)).json()["data"] == []
            stored = await client.post(url, headers=headers, json={
                "role": "user", "content": "after", "generate": False})
            assert stored.status_code == 201, stored.text
            assert [i["content"] for i in (await client.get(url, headers=headers)).json()[
                "data"]] == ["after"]
    finally:
        server.destroy()


def test_in_memory_sqlite_is_refused_at_start_up() -> None:
    """Hot reads open their own connections: an in-memory database would be a new, empty
    one for each of them."""
    env = {**os.environ, "PARLAY_DATABASE_URL": "sqlite://", "PARLAY_LOCAL_MODEL": "off"}
    refused = subprocess.run([sys.executable, "-m", "parlay.cli", "serve"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "in-memory SQLite is not supported" in refused.stderr
    with pytest.raises(ValueError, match="in-memory SQLite database cannot be shared"):
        DirectDB(make_url("sqlite+aiosqlite://"), sqlite_dialect.dialect())


async def test_a_page_carries_each_items_own_versions(client: httpx.AsyncClient,
                                                      guest: dict) -> None:
    conv = (await client.post("/v1/conversations", headers=guest, json={"items": [
        {"role": "user", "content": f"m{n}.0"} for n in range(7)]})).json()["data"]["id"]
    url = f"/v1/conversations/{conv}/items"
    listed = (await client.get(url, headers=guest)).json()["data"]
    for n, item in enumerate(listed):
        for k in range(1, n % 4 + 1):  # item n edited n % 4 times
            edited = await client.patch(f"{url}/{item['id']}", headers=guest,
                                        json={"content": f"m{n}.{k}"})
            assert edited.status_code == 200, edited.text
    page = (await client.get(url, headers=guest)).json()["data"]
    for n, item in enumerate(page):
        edits = n % 4
        assert item["content"] == f"m{n}.{edits}" and item["version"] == edits + 1
        assert [(v["version"], v["content"]) for v in item["versions"]] == [
            (k + 1, f"m{n}.{k}") for k in range(edits)]
    versions = (await client.get(f"{url}/{page[3]['id']}/versions", headers=guest)).json()
    assert [(v["content"], v["current"]) for v in versions["data"]] == [
        ("m3.0", False), ("m3.1", False), ("m3.2", False), ("m3.3", True)]
