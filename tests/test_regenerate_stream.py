"""Regenerate with `stream: true` against the loopback upstream: the items stream's shape
(chunks, [DONE], the error event after a cut), the reply replaced in place with its earlier
content kept as a version, a client leaving, and the errors that come before any byte as JSON.
(Read-after-stream: tests/test_read_after_stream.py; tool rounds: test_reply_tools.py and
test_reply_parlay_tools.py.)"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import orjson

from support.asserts import assert_error
from support.conversations import ConversationClient
from support.mock_upstream import MockUpstream, serve_asgi


class Chat(ConversationClient):
    async def answered(self, conv: str, content: str) -> dict[str, Any]:
        """A user message answered in one piece; its reply."""
        response = await self.say(conv, content)
        assert response.status_code == 201, response.text
        return response.json()["reply"]

    async def item(self, conv: str, item_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/conversations/{conv}/items/{item_id}",
                                       headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    async def regenerate(self, conv: str, item_id: str, **body: Any) -> httpx.Response:
        return await self.http.post(f"/v1/conversations/{conv}/items/{item_id}/regenerate",
                                    headers=self.headers, json={"stream": True, **body})


def _events(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("text/event-stream")
    return [b.removeprefix("data: ") for b in response.text.split("\n\n") if b.strip()]


def _text(events: list[str]) -> str:
    chunks = [orjson.loads(e) for e in events if e != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or ""
                   for c in chunks if c.get("choices"))


async def test_a_streamed_regenerate_relays_chunks_and_keeps_the_old_version(
        client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream) -> None:
    chat = Chat(client, guest)
    conv = await chat.conversation()
    marker = secrets.token_hex(4)
    reply = await chat.answered(conv, f"q {marker}")
    response = await chat.regenerate(conv, reply["id"], model="mock-large", temperature=0.5)
    assert response.status_code == 200, response.text
    assert response.headers["x-parlay-reply-id"] == reply["id"]
    events = _events(response)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert {c["model"] for c in chunks} == {"mock-large"}
    assert _text(events) == f"echo: q {marker}"
    sent = mock_upstream.sent_with(f"q {marker}")[-1]
    assert (sent["stream"], sent["model"], sent["temperature"]) == (True, "mock-large", 0.5)
    assert sent["messages"] == [{"role": "user", "content": f"q {marker}"}]  # not the old reply
    stored = await chat.item(conv, reply["id"])
    assert (stored["version"], stored["status"], stored["content"], stored["model"]) == (
        2, "completed", f"echo: q {marker}", "mock-large")
    assert stored["usage"]["completion_tokens"] == 3
    assert [(v["version"], v["content"], v["model"], v["status"])
            for v in stored["versions"]] == [(1, f"echo: q {marker}", "mock-small", "completed")]
    # Through the user message, cut short by max_tokens: the next version, `incomplete`.
    user_id = (await chat.items(conv))[0]["id"]
    again = await chat.regenerate(conv, user_id, max_tokens=2)
    assert again.headers["x-parlay-reply-id"] == reply["id"]
    assert _events(again)[-1] == "[DONE]" and _text(_events(again)) == "echo: q"
    stored = await chat.item(conv, reply["id"])
    assert (stored["version"], stored["status"], stored["content"]) == (3, "incomplete", "echo: q")
    assert [v["version"] for v in stored["versions"]] == [1, 2]
    assert len(await chat.items(conv)) == 2  # replaced, not appended


async def test_an_upstream_cut_leaves_the_new_version_incomplete_with_the_partial_text(
        client: httpx.AsyncClient, guest: dict) -> None:
    chat = Chat(client, guest)
    conv = await chat.conversation()
    reply = await chat.answered(conv, "!cut 3")  # in one piece the mock does not cut
    assert reply["content"] == "echo: !cut 3"
    response = await chat.regenerate(conv, reply["id"])
    assert response.status_code == 200
    events = _events(response)
    assert "[DONE]" not in events and "error" in orjson.loads(events[-1])
    relayed = _text(events[:-1])
    assert relayed == "echo: !cut"
    stored = await chat.item(conv, reply["id"])
    assert (stored["version"], stored["status"], stored["content"]) == (2, "incomplete", relayed)
    assert stored["versions"][0]["content"] == "echo: !cut 3"
    assert len(await chat.items(conv)) == 2  # in place, no other item


async def test_a_user_message_without_a_reply_gets_a_streamed_one(
        client: httpx.AsyncClient, guest: dict) -> None:
    chat = Chat(client, guest)
    conv = await chat.conversation()
    message = (await chat.say(conv, "later", generate=False)).json()["data"]
    response = await chat.regenerate(conv, message["id"])
    assert response.status_code == 200, response.text
    assert _text(_events(response)) == "echo: later"
    items = await chat.items(conv)
    assert [(i["role"], i["status"]) for i in items] == [("user", "completed"),
                                                         ("assistant", "completed")]
    assert items[1]["id"] == response.headers["x-parlay-reply-id"]
    assert (items[1]["version"], items[1]["content"]) == (1, "echo: later")


async def test_errors_before_the_stream_are_json_and_change_nothing(
        client: httpx.AsyncClient, guest: dict) -> None:
    chat = Chat(client, guest)
    conv = await chat.conversation()
    reply = await chat.answered(conv, "hello")
    assert_error(await chat.regenerate(conv, "msg_missing"), 404, "item_not_found")
    assert_error(await chat.regenerate(f"conv_{secrets.token_hex(8)}", reply["id"]), 404,
                 "item_not_found")
    rules = (await chat.say(conv, "rules", role="system")).json()["data"]
    assert_error(await chat.regenerate(conv, rules["id"]), 400, "not_regenerable")
    question = (await chat.say(conv, "no reply yet", generate=False)).json()["data"]
    await chat.say(conv, "more rules", role="system")
    assert_error(await chat.regenerate(conv, question["id"]), 409, "no_reply_to_regenerate")
    assert_error(await chat.regenerate(conv, reply["id"], max_tokens=0), 422)
    assert_error(await chat.regenerate(conv, reply["id"], model="gpt-4"), 404, "model_not_found")
    # The upstream refuses before anything streamed: the error envelope, the reply as it was.
    await chat.http.patch(f"/v1/conversations/{conv}/items/{(await chat.items(conv))[0]['id']}",
                          headers=guest, json={"content": "!status 500"})
    failed = await chat.regenerate(conv, reply["id"])
    assert_error(failed, 502)
    assert not failed.headers["content-type"].startswith("text/event-stream")
    stored = await chat.item(conv, reply["id"])
    assert (stored["version"], stored["status"], stored["content"]) == (1, "completed",
                                                                        "echo: hello")


async def test_a_client_leaving_cancels_the_upstream_and_keeps_what_arrived(
        app: Any, guest: dict, mock_upstream: MockUpstream) -> None:
    async with serve_asgi(app, lifespan="off") as url, httpx.AsyncClient(
            base_url=url, timeout=10) as http:
        chat = Chat(http, guest)
        conv = await chat.conversation()
        reply = await chat.answered(conv, "!hang")  # in one piece the mock does not hang
        cancelled = mock_upstream.cancelled
        async with http.stream("POST", f"/v1/conversations/{conv}/items/{reply['id']}/regenerate",
                               headers=guest, json={"stream": True}) as response:
            assert response.status_code == 200
            assert response.headers["x-parlay-reply-id"] == reply["id"]
            chunks = response.aiter_bytes()  # kept: a dropped iterator closes the response
            assert (await anext(chunks)).startswith(b"data: ")
            writing = await chat.item(conv, reply["id"])
            assert (writing["status"], writing["version"]) == ("in_progress", 2)
            assert writing["versions"][0]["content"] == "echo: !hang"
            # Meanwhile the reply cannot be answered again, streamed or not.
            for stream in (True, False):
                busy = await http.post(f"/v1/conversations/{conv}/items/{reply['id']}/regenerate",
                                       headers=guest, json={"stream": stream})
                assert_error(busy, 409, "item_in_progress")
        stored: dict[str, Any] = {}
        for _ in range(100):
            stored = await chat.item(conv, reply["id"])
            if stored["status"] != "in_progress" and mock_upstream.cancelled > cancelled:
                break
            await asyncio.sleep(0.05)
        assert mock_upstream.cancelled > cancelled
        assert (stored["status"], stored["version"], stored["content"]) == ("incomplete", 2, "")
        assert [v["content"] for v in stored["versions"]] == ["echo: !hang"]
