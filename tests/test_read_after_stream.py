"""Read-after-stream consistency: once a client has seen the end of a reply (the finish
chunk, `[DONE]`, or the error event after an upstream cut; the whole body of a non-streamed
answer), a read of the conversation shows the reply with its final status and content.

Checked in process and over a real socket against `parlay serve` (a real socket shows the
order in which bytes leave; ASGITransport waits for the whole app call)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from support.server import ParlayProcess, free_port

MOCK = Path(__file__).parent / "support" / "mock_upstream.py"
ROUNDS = 20


async def _read_until_end(response: httpx.Response) -> tuple[str, list[dict]]:
    """Read events until the last one ([DONE] or an error) and return at once, without
    waiting for the body to close: ("done" | "error", the chunks before it)."""
    chunks: list[dict] = []
    buffer = b""
    async for piece in response.aiter_bytes():
        buffer += piece
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            payload = event.removeprefix(b"data: ")
            if payload == b"[DONE]":
                return "done", chunks
            data = orjson.loads(payload)
            if "error" in data:
                return "error", chunks
            chunks.append(data)
    raise AssertionError("the stream closed without [DONE] or an error event")


def _text(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


class Client:
    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.http, self.headers = http, headers

    async def conversation(self) -> str:
        response = await self.http.post("/v1/conversations", headers=self.headers,
                                        json={"model": "mock-small"})
        return response.json()["data"]["id"]

    async def item(self, conv: str, item_id: str) -> dict:
        response = await self.http.get(f"/v1/conversations/{conv}/items/{item_id}",
                                       headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    async def stream_item(self, conv: str, content: str) -> tuple[str, str, str]:
        """Stream a reply to `content`; (how it ended, the text seen, the stored reply's id)."""
        async with self.http.stream("POST", f"/v1/conversations/{conv}/items",
                                    headers=self.headers,
                                    json={"role": "user", "content": content,
                                          "stream": True}) as response:
            assert response.status_code == 201
            ending, chunks = await _read_until_end(response)
            return ending, _text(chunks), response.headers["x-parlay-reply-id"]

    async def stream_regenerate(self, conv: str, item_id: str) -> tuple[str, str, str]:
        async with self.http.stream("POST",
                                    f"/v1/conversations/{conv}/items/{item_id}/regenerate",
                                    headers=self.headers, json={"stream": True}) as response:
            assert response.status_code == 200
            ending, chunks = await _read_until_end(response)
            return ending, _text(chunks), response.headers["x-parlay-reply-id"]

    async def stream_chat(self, conv: str, content: str) -> tuple[str, str, str]:
        async with self.http.stream("POST", "/v1/chat/completions", headers=self.headers,
                                    json={"model": "mock-small", "conversation": conv,
                                          "stream": True, "messages": [
                                              {"role": "user", "content": content}]}) as response:
            assert response.status_code == 200
            ending, chunks = await _read_until_end(response)
            return ending, _text(chunks), response.headers["x-parlay-reply-id"]


async def _check_every_path(client: Client) -> None:
    conv = await client.conversation()
    for round_ in range(ROUNDS):
        for stream in (client.stream_item, client.stream_chat):
            ending, text, reply_id = await stream(conv, "!cut 3")
            reply = await client.item(conv, reply_id)  # at once: no waiting, no retry
            assert ending == "error", round_
            assert (reply["status"], reply["content"]) == ("incomplete", text), round_
            assert text == "echo: !cut"
            # Answered again, streamed: the new version, cut as well.
            ending, text, again = await client.stream_regenerate(conv, reply_id)
            reply = await client.item(conv, reply_id)
            assert (ending, again, text) == ("error", reply_id, "echo: !cut"), round_
            assert (reply["status"], reply["content"], reply["version"]) == (
                "incomplete", text, 2), round_
    ending, text, reply_id = await client.stream_item(conv, "all of it")
    assert ending == "done"
    reply = await client.item(conv, reply_id)
    assert (reply["status"], reply["content"]) == ("completed", "echo: all of it")
    assert reply["usage"]["completion_tokens"] == 4
    ending, text, _ = await client.stream_regenerate(conv, reply_id)
    reply = await client.item(conv, reply_id)
    assert (ending, text) == ("done", "echo: all of it")
    assert (reply["status"], reply["content"], reply["version"]) == (
        "completed", "echo: all of it", 2)
    assert reply["usage"]["completion_tokens"] == 4 and len(reply["versions"]) == 1
    ending, text, reply_id = await client.stream_chat(conv, "via chat")
    assert (ending, (await client.item(conv, reply_id))["status"]) == ("done", "completed")

    answered = await client.http.post(f"/v1/conversations/{conv}/items", headers=client.headers,
                                      json={"role": "user", "content": "plain"})
    reply = answered.json()["reply"]
    assert (await client.item(conv, reply["id"]))["content"] == "echo: plain"
    regenerated = await client.http.post(
        f"/v1/conversations/{conv}/items/{reply['id']}/regenerate", headers=client.headers,
        json={"max_tokens": 1})
    stored = await client.item(conv, reply["id"])  # cut short by max_tokens: incomplete
    assert (stored["version"], stored["content"], stored["status"]) == (2, "echo:", "incomplete")
    assert regenerated.json()["data"]["content"] == "echo:"


async def test_in_process(client: httpx.AsyncClient, guest: dict) -> None:
    await _check_every_path(Client(client, guest))


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[str]:
    mock_port = free_port()
    mock = subprocess.Popen([sys.executable, str(MOCK), "--port", str(mock_port)])  # noqa: ASYNC220
    server = ParlayProcess({"PARLAY_DATABASE_URL": database_url,
                            "OPENAI_BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
                            "OPENAI_API_KEY": "x"})
    try:
        await asyncio.to_thread(server.start)
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)
        mock.terminate()
        mock.wait(timeout=10)


async def test_over_a_socket(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=30) as http:
        token = (await http.post("/llm/auth/guest-login")).json()["access_token"]
        await _check_every_path(Client(http, {"Authorization": f"Bearer {token}"}))
