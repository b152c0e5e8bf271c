"""Parlay served by a real uvicorn: client disconnects, and the official `openai` SDK."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from conftest import make_settings, new_guest
from parlay.app import create_app
from support.mock_upstream import MockUpstream, serve_asgi


@contextlib.asynccontextmanager
async def live_parlay(database_url: str, mock: MockUpstream) -> AsyncIterator[tuple[str, str]]:
    """(base URL of a uvicorn-served Parlay, a guest's bearer token)."""
    settings = make_settings(database_url, openai_base_url=mock.url, openai_api_key="mock-key")
    async with serve_asgi(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as http:
        headers = await new_guest(http)
        yield url, headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def parlay(database_url: str, mock_upstream: MockUpstream) -> AsyncIterator[tuple[str, str]]:
    async with live_parlay(database_url, mock_upstream) as served:
        yield served


async def test_client_disconnect_cancels_the_upstream_request(
    parlay: tuple[str, str], mock_upstream: MockUpstream
) -> None:
    url, token = parlay
    before = mock_upstream.cancelled
    async with httpx.AsyncClient(base_url=url, timeout=10) as http, http.stream(
        "POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
        json={"model": "mock-small", "stream": True,
              "messages": [{"role": "user", "content": "!hang"}]},
    ) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            assert chunk.startswith(b"data: {")
            break  # the first chunk arrived; the upstream now hangs until we leave
    for _ in range(100):
        if mock_upstream.cancelled > before:
            break
        await asyncio.sleep(0.05)
    assert mock_upstream.cancelled == before + 1


async def test_official_openai_sdk(parlay: tuple[str, str], mock_upstream: MockUpstream) -> None:
    url, token = parlay
    sdk = AsyncOpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)
    marker = secrets.token_hex(4)

    completion = await sdk.chat.completions.create(
        model="mock-small", messages=[{"role": "user", "content": f"sdk {marker}"}],
        temperature=0.2, max_tokens=20, seed=7)
    assert completion.choices[0].message.content == f"echo: sdk {marker}"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.model == "mock-small"

    stream = await sdk.chat.completions.create(
        model="mock-large", messages=[{"role": "user", "content": "stream please"}],
        stream=True, stream_options={"include_usage": True})
    parts, usage = [], None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts) == "echo: stream please"
    assert usage is not None and usage.completion_tokens == 3

    models = [m.id async for m in sdk.models.list()]
    assert {"mock-small", "mock-large"} <= set(models)
    assert (await sdk.models.retrieve("mock-small")).id == "mock-small"

    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.chat.completions.create(model="no-such-model",
                                          messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(model="mock-small", messages=[])
    with pytest.raises(openai.InternalServerError) as failed:
        await sdk.chat.completions.create(model="mock-small",
                                          messages=[{"role": "user", "content": "!status 500"}])
    assert failed.value.status_code == 502

    embedded = await sdk.embeddings.create(model="mock-small", input="three word input")
    assert embedded.data[0].embedding[0] == 16.0

    bad = AsyncOpenAI(base_url=f"{url}/v1", api_key="sk_not_a_real_key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.chat.completions.create(model="mock-small",
                                          messages=[{"role": "user", "content": "x"}])
    await sdk.close()
    await bad.close()


async def test_service_stream_aclose_cancels_upstream(app: object, mock_upstream: MockUpstream) -> None:
    """The contract the conversations store relies on: ChatService.open_stream raises before
    any byte for bad requests, and closing the iterator closes the upstream request."""
    from parlay.errors import NotFound

    chat = app.state.ctx.chat  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        await chat.open_stream("usr_admin", {"model": "nope", "messages": [
            {"role": "user", "content": "x"}]})
    before = mock_upstream.cancelled
    events = await chat.open_stream("usr_admin", {"model": "mock-small", "messages": [
        {"role": "user", "content": "!hang"}]})
    first = await anext(events)
    assert first.startswith(b"data: {")
    await events.aclose()  # type: ignore[attr-defined]
    for _ in range(100):
        if mock_upstream.cancelled > before:
            break
        await asyncio.sleep(0.05)
    assert mock_upstream.cancelled == before + 1
