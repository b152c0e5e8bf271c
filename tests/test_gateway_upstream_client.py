"""OpenAICompatProvider's HTTP against raw loopback servers that misbehave in real ways: idle
keep-alive connections closed by the server, odd packet boundaries, CRLF SSE framing, bodies
delimited by the connection's end or chunked, slow, silent and vanishing servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest

from parlay.errors import (
    BadRequest,
    Conflict,
    NotFound,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from parlay.providers.base import UpstreamUnreachable
from parlay.providers.openai_compat import OpenAICompatProvider

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n")


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def provider_for(handler: Handler, **options: object) -> AsyncIterator[OpenAICompatProvider]:
    async with raw_server(handler) as url:
        provider = OpenAICompatProvider("raw", url, **options)  # type: ignore[arg-type]
        try:
            yield provider
        finally:
            await provider.aclose()


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request; IncompleteReadError once the client has gone."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head, await reader.readexactly(length)


def _json_response(payload: object, status: str = "200 OK", extra: bytes = b"") -> bytes:
    body = orjson.dumps(payload)
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n".encode() + extra +
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _chat(**extra: object) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


async def _collect(provider: OpenAICompatProvider) -> list[bytes]:
    return [event async for event in provider.stream_chat(_chat(stream=True))]


async def test_idle_connection_closed_by_the_server_is_retried_on_a_fresh_one() -> None:
    connections = 0

    async def one_answer_then_close(reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        _, body = await _read_request(reader)
        writer.write(_json_response({"object": "chat.completion",
                                     "echo": orjson.loads(body)["model"]}))
        await writer.drain()
        writer.close()  # keep-alive was implied, yet the server hangs up

    async with provider_for(one_answer_then_close) as provider:
        for _ in range(20):  # each request races the server's close of the last connection
            assert (await provider.chat(_chat()))["echo"] == "m"
    assert connections == 20


async def test_a_new_connection_dropped_before_the_answer_is_not_sent_again() -> None:
    """The server may have acted on a POST it hung up on: only kept-alive ones are retried."""
    received = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        await _read_request(reader)
        received += 1
        writer.close()

    async with provider_for(hang_up) as provider:
        with pytest.raises(UpstreamError) as failed:
            await provider.chat(_chat())
    assert not isinstance(failed.value, UpstreamUnreachable)
    assert failed.value.status == 502 and received == 1


async def test_connections_are_kept_alive_and_requests_are_sent_as_is() -> None:
    connections, heads, bodies = 0, [], []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                head, body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            heads.append(head.lower())
            bodies.append(body)
            if b'"stream":true' in body:
                writer.write(SSE_HEAD + _chunk(b'data: {"n":1}\n\n') +
                             _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            else:
                writer.write(_json_response({"object": "chat.completion"}))
            await writer.drain()

    async with provider_for(keep_alive, api_key="sk-upstream") as provider:
        for _ in range(3):
            assert await provider.chat(_chat(temperature=0.5)) == {"object": "chat.completion"}
            assert await _collect(provider) == [b'data: {"n":1}\n\n', b"data: [DONE]\n\n"]
    assert connections == 1 and len(heads) == 6
    assert heads[0].startswith(b"post /v1/chat/completions http/1.1\r\n")
    for line in (b"authorization: bearer sk-upstream", b"content-type: application/json",
                 b"accept-encoding: identity"):
        assert line in heads[0]
    assert bodies[0] == orjson.dumps(_chat(temperature=0.5))


@pytest.mark.parametrize("separator", [b"\r\n\r\n", b"\n\n", b"\r\r"])
async def test_sse_split_across_packets_keeps_the_upstreams_framing(separator: bytes) -> None:
    events = [b'data: {"n":1}', b'data: {"n":2}', b"data: [DONE]"]

    async def fragmented(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(SSE_HEAD)
        stream = b"".join(e + separator for e in events)
        for i in range(0, len(stream), 5):  # 5-byte HTTP chunks, each its own packet
            writer.write(_chunk(stream[i:i + 5]))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with provider_for(fragmented) as provider:
        assert await _collect(provider) == [e + separator for e in events]


async def test_bodies_delimited_by_connection_close() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await _read_request(reader)
        if b'"stream":true' in body:
            payload = b'data: {"n":1}\n\ndata: [DONE]\n\n'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"connection: close\r\n\r\n" + payload)
        else:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"connection: close\r\n\r\n" + orjson.dumps({"data": [{"id": "x"}]}))
        await writer.drain()
        writer.close()

    async with provider_for(http10) as provider:
        assert [m.id for m in await provider.list_models()] == ["x"]
        assert await _collect(provider) == [b'data: {"n":1}\n\n', b"data: [DONE]\n\n"]


async def test_chunked_json_body_in_small_pieces() -> None:
    answer = {"object": "chat.completion", "choices": [{"message": {"content": "é" * 50}}]}

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        body = orjson.dumps(answer)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 7):
            writer.write(_chunk(body[i:i + 7]))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with provider_for(chunked) as provider:
        assert await provider.chat(_chat()) == answer


async def test_silence_times_out_and_a_refused_port_is_unreachable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await _read_request(reader)
        if b'"stream":true' in body:
            writer.write(SSE_HEAD + _chunk(b'data: {"n":1}\n\n'))  # then nothing more
            await writer.drain()
        await asyncio.sleep(5)

    async with provider_for(silent, timeout=0.2) as provider:
        with pytest.raises(UpstreamTimeout):
            await provider.chat(_chat())
        events = provider.stream_chat(_chat(stream=True))
        assert await anext(events) == b'data: {"n":1}\n\n'
        with pytest.raises(UpstreamTimeout) as stalled:
            await anext(events)
        assert stalled.value.status == 504
        url = provider.base_url
    refused = OpenAICompatProvider("gone", url, retries=1, connect_timeout=0.5)
    with pytest.raises(UpstreamUnreachable) as down:
        await refused.chat(_chat())
    assert down.value.status == 502 and "unreachable" in down.value.message
    await refused.aclose()


async def test_error_statuses_map_to_the_envelope() -> None:
    requests: list[int] = []

    async def statuses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                _, body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            status = int(orjson.loads(body)["model"])
            requests.append(status)
            writer.write(_json_response({"error": {"message": f"said {status}", "code": "up"}},
                                        f"{status} X", b"retry-after: 7\r\n"))
            await writer.drain()

    async with provider_for(statuses, retries=2) as provider:
        expected = {"404": NotFound, "409": Conflict, "400": BadRequest}
        for status, error_class in expected.items():
            with pytest.raises(error_class) as refused:
                await provider.chat(_chat(model=status))
            assert (refused.value.status, refused.value.message) == (int(status), f"said {status}")
            assert refused.value.code == "up"
        for status in ("401", "403"):
            with pytest.raises(UpstreamError) as denied:
                await provider.chat(_chat(model=status))
            assert denied.value.status == 502 and "credentials" in denied.value.message
        with pytest.raises(Exception) as limited:
            await provider.chat(_chat(model="429"))
        assert limited.value.status == 429
        assert limited.value.headers == {"Retry-After": "7"}
        with pytest.raises(UpstreamError) as failed:
            await provider.chat(_chat(model="503"))
        assert failed.value.status == 502 and "said 503" in failed.value.message
    assert requests.count(503) == 3  # one try and two retries; 4xx are never retried
    assert requests.count(404) == requests.count(401) == 1


async def test_a_connection_dropped_mid_answer_is_an_upstream_error() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, body = await _read_request(reader)
        request = orjson.loads(body)
        if request["model"] == "short":  # promises 100 bytes, sends 10
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b'{"object":')
        elif request["model"] == "no-done":  # a complete response that lacks [DONE]
            writer.write(SSE_HEAD + _chunk(b'data: {"n":1}\n\n') + b"0\r\n\r\n")
        else:  # one event, then the connection is gone mid-stream
            writer.write(SSE_HEAD + _chunk(b'data: {"n":1}\n\n'))
        await writer.drain()
        if request["model"] != "no-done":
            writer.close()

    async with provider_for(cut) as provider:
        with pytest.raises(UpstreamError) as short:
            await provider.chat(_chat(model="short"))
        assert "mid-answer" in short.value.message
        got: list[bytes] = []
        with pytest.raises(UpstreamError) as broken:
            async for event in provider.stream_chat(_chat(stream=True)):
                got.append(event)
        assert got == [b'data: {"n":1}\n\n'] and "broke the stream" in broken.value.message
        got.clear()
        with pytest.raises(UpstreamError) as unfinished:
            async for event in provider.stream_chat(_chat(model="no-done", stream=True)):
                got.append(event)
        assert got == [b'data: {"n":1}\n\n'] and "[DONE]" in unfinished.value.message


async def test_a_slow_reader_holds_the_upstream_back_and_closing_hangs_up_at_once() -> None:
    event = b"data: " + b"x" * 65_530 + b"\n\n"
    total = 2000  # ~128 MB if nothing held the server back
    sent, gone = 0, asyncio.Event()

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await _read_request(reader)
        writer.write(SSE_HEAD)
        try:
            for _ in range(total):
                writer.write(_chunk(event))
                await writer.drain()
                sent += 1
        except ConnectionError:
            gone.set()

    async with provider_for(firehose) as provider:
        events = provider.stream_chat(_chat(stream=True))
        assert await anext(events) == event
        await asyncio.sleep(0.5)  # Parlay's client is slow: the upstream must wait for it
        assert 0 < sent < total // 2
        await events.aclose()  # type: ignore[attr-defined]
        await asyncio.wait_for(gone.wait(), 5)


async def test_header_injection_in_configuration_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed) as key:
        OpenAICompatProvider("x", "http://127.0.0.1:9/v1", api_key="k\r\nx-injected: 1")
    assert (key.value.status, key.value.param) == (422, "api_key")
    with pytest.raises(ValidationFailed) as header:
        OpenAICompatProvider("x", "http://127.0.0.1:9/v1", headers={"x-a": "b\nc"})
    assert header.value.param == "headers"


async def test_a_closed_provider_answers_with_an_upstream_error() -> None:
    async def never_called(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("no request expected")

    async with provider_for(never_called) as provider:
        await provider.aclose()
        with pytest.raises(UpstreamError, match="shut down"):
            await provider.chat(_chat())


async def test_events_sent_before_a_drop_reach_a_slow_client_before_the_error() -> None:
    events = [b'data: {"n": %d}\n\n' % i for i in range(4)]

    async def send_then_vanish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(SSE_HEAD + b"".join(_chunk(e) for e in events))
        await writer.drain()
        writer.transport.abort()  # no terminating chunk, no [DONE]

    async with provider_for(send_then_vanish) as provider:
        stream = provider.stream_chat(_chat(stream=True))
        received = [await anext(stream)]
        await asyncio.sleep(0.3)  # the client is slower than the upstream: the rest is buffered
        with pytest.raises(UpstreamError):
            async for event in stream:
                received.append(event)
    assert received == events
