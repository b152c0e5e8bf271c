"""The reply pipeline's context steps: what the model sees is built by ordered steps, and a
new step (here a stand-in for memory recall) joins with one registration, its system message
reaching the model and its metadata recorded on the stored reply, on every reply path."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from conftest import asgi_client, make_settings, new_guest, running_app
from parlay.services.replies import CONTEXT_STEPS, ReplyContext
from support.mock_upstream import MockUpstream


async def recall(ctx: ReplyContext) -> None:
    """Remembers one thing about everything: the text being answered, upper-cased."""
    remembered = ctx.latest_user_text().upper()
    ctx.system.append({"role": "system", "content": f"you remember: {remembered}"})
    ctx.metadata["memories"] = [{"text": remembered, "score": 0.9}]


def test_the_built_in_steps_in_order() -> None:
    assert CONTEXT_STEPS.names() == ["profile_preamble", "conversation_history", "offered_tools"]
    assert CONTEXT_STEPS.extended(recall).names()[-1] == "recall"
    assert "recall" not in CONTEXT_STEPS.names()  # a copy: the app-wide list is unchanged


@pytest.fixture
async def env(database_url: str, mock_upstream: MockUpstream,
              ) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    settings = make_settings(database_url, openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key")
    async with running_app(settings) as app, asgi_client(app) as http:
        app.state.ctx.replies.context_steps = CONTEXT_STEPS.extended(recall)  # one registration
        headers = await new_guest(http)
        await http.patch("/v1/users/me/settings", headers=headers,
                         json={"profile_settings": {"nick_name": "Sam"}})
        yield http, headers


def _sent(mock: MockUpstream, marker: str) -> dict[str, Any]:
    return [r.body for r in mock.chat_requests() if marker in orjson.dumps(r.body).decode()][-1]


async def test_a_new_step_reaches_the_model_and_the_stored_reply(
        env: tuple[httpx.AsyncClient, dict[str, str]], mock_upstream: MockUpstream) -> None:
    http, headers = env
    conv = (await http.post("/v1/conversations", headers=headers, json={})).json()["data"]["id"]
    replies = []
    for stream in (False, True):
        marker = secrets.token_hex(4)
        response = await http.post(f"/v1/conversations/{conv}/items", headers=headers,
                                   json={"role": "user", "content": f"item {marker}",
                                         "stream": stream})
        replies.append(response.headers["x-parlay-reply-id"] if stream
                       else response.json()["reply"]["id"])
        sent = _sent(mock_upstream, marker)
        system = [m["content"] for m in sent["messages"] if m["role"] == "system"]
        assert "Sam" in system[0]  # the preamble first, then the new step's message
        assert system[1] == f"you remember: ITEM {marker.upper()}"
        assert sent["messages"][-1] == {"role": "user", "content": f"item {marker}"}
    for stream in (False, True):
        marker = secrets.token_hex(4)
        response = await http.post("/v1/chat/completions", headers=headers, json={
            "model": "mock-small", "conversation": conv, "stream": stream,
            "messages": [{"role": "user", "content": f"chat {marker}"}]})
        assert response.status_code == 200, response.text
        replies.append(response.headers["x-parlay-reply-id"])
        assert _sent(mock_upstream, marker)["messages"][1]["content"].startswith("you remember")
    regenerated = await http.post(f"/v1/conversations/{conv}/items/{replies[0]}/regenerate",
                                  headers=headers)
    assert regenerated.json()["data"]["metadata"]["memories"][0]["score"] == 0.9
    assert regenerated.json()["data"]["versions"][0]["metadata"]["memories"]
    items = (await http.get(f"/v1/conversations/{conv}/items", headers=headers)).json()["data"]
    metadata = {i["id"]: i["metadata"] for i in items}
    for reply_id in replies:
        assert metadata[reply_id]["memories"][0]["score"] == 0.9
    assert all(i["metadata"] is None for i in items if i["role"] == "user")
    detail = (await http.get(f"/v1/conversations/{conv}", headers=headers)).json()["data"]
    assert detail["items"][1]["metadata"] == metadata[detail["items"][1]["id"]]
