"""The upstream HTTP/1.1 client against raw loopback servers that misbehave in real ways:
idle keep-alive connections closed by the server, odd packet boundaries, CRLF SSE framing,
bodies delimited by the connection's end, slow and silent servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest

from parlay.errors import NotFound, UpstreamError, UpstreamTimeout
from parlay.providers.base import UpstreamUnreachable
from parlay.providers.openai_compat import OpenAICompatProvider

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return await reader.readexactly(length)


def _json_response(payload: dict, extra: bytes = b"") -> bytes:
    body = orjson.dumps(payload)
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + extra +
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _chat() -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def test_idle_connection_closed_by_the_server_is_retried_on_a_fresh_one() -> None:
    connections = 0

    async def one_answer_then_close(reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        body = orjson.loads(await _read_request(reader))
        writer.write(_json_response({"object": "chat.completion", "echo": body["model"]}))
        await writer.drain()
        writer.close()  # keep-alive was implied, yet the server hangs up

    async with raw_server(one_answer_then_close) as url:
        provider = OpenAICompatProvider("raw", url)
        try:
            for _ in range(20):  # each request races the server's close of the last connection
                assert (await provider.chat(_chat()))["echo"] == "m"
        finally:
            await provider.aclose()
    assert connections == 20


async def test_sse_split_across_packets_and_crlf_framing() -> None:
    events = [b'data: {"n":1}', b'data: {"n":2}', b"data: [DONE]"]

    async def fragmented(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        stream = b"".join(e + b"\r\n\r\n" for e in events)
        for i in range(0, len(stream), 5):  # 5-byte HTTP chunks, each its own packet
            piece = stream[i:i + 5]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with raw_server(fragmented) as url:
        provider = OpenAICompatProvider("raw", url)
        try:
            got = [e async for e in provider.stream_chat({**_chat(), "stream": True})]
        finally:
            await provider.aclose()
    assert got == [e + b"\r\n\r\n" for e in events]


async def test_body_delimited_by_connection_close() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"connection: close\r\n\r\n" + orjson.dumps({"data": [{"id": "x"}]}))
        await writer.drain()
        writer.close()

    async with raw_server(http10) as url:
        provider = OpenAICompatProvider("raw", url)
        try:
            assert [m.id for m in await provider.list_models()] == ["x"]
        finally:
            await provider.aclose()


async def test_silent_server_times_out_and_refused_port_is_unreachable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async with raw_server(silent) as url:
        provider = OpenAICompatProvider("raw", url, timeout=0.2)
        try:
            with pytest.raises(UpstreamTimeout):
                await provider.chat(_chat())
        finally:
            await provider.aclose()
    refused = OpenAICompatProvider("gone", url, retries=1, connect_timeout=0.5)
    with pytest.raises(UpstreamUnreachable):
        await refused.chat(_chat())
    await refused.aclose()


async def test_error_statuses_map_to_the_envelope() -> None:
    async def statuses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                body = orjson.loads(await _read_request(reader))
            except asyncio.IncompleteReadError:
                return
            status = int(body["model"])
            payload = orjson.dumps({"error": {"message": f"said {status}", "code": "up"}})
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: {len(payload)}\r\n"
                         "retry-after: 7\r\n\r\n".encode() + payload)
            await writer.drain()

    async with raw_server(statuses) as url:
        provider = OpenAICompatProvider("raw", url)
        try:
            with pytest.raises(NotFound) as missing:
                await provider.chat({**_chat(), "model": "404"})
            assert (missing.value.message, missing.value.code) == ("said 404", "up")
            with pytest.raises(UpstreamError) as denied:
                await provider.chat({**_chat(), "model": "401"})
            assert denied.value.status == 502 and "credentials" in denied.value.message
            with pytest.raises(Exception) as limited:
                await provider.chat({**_chat(), "model": "429"})
            assert limited.value.status == 429
            assert limited.value.headers == {"Retry-After": "7"}
        finally:
            await provider.aclose()
