"""Parlay served by a real uvicorn on a free loopback port, for tests that drive the
official `openai` SDK over a socket."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from openai import AsyncOpenAI
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from support.conversations import ConversationClient
from support.mock_upstream import MockUpstream, serve_asgi


@dataclass
class LiveParlay:
    url: str
    app: Any

    async def guest(self) -> tuple[str, AsyncOpenAI]:
        """A new guest's bearer token and an SDK client acting as that guest."""
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.post("/llm/auth/guest-login")
            assert response.status_code == 201, response.text
            token = response.json()["access_token"]
        return token, AsyncOpenAI(base_url=f"{self.url}/v1", api_key=token, max_retries=0)


@contextlib.asynccontextmanager
async def live_parlay(settings: Any) -> AsyncIterator[LiveParlay]:
    from parlay.app import create_app

    app = create_app(settings)
    async with serve_asgi(app) as url:
        yield LiveParlay(url, app)


def mock_settings(make_settings: Any, database_url: str, mock: MockUpstream,
                  **overrides: Any) -> Any:
    return make_settings(database_url, openai_base_url=mock.url, openai_api_key="mock-key",
                         **overrides)


@contextlib.asynccontextmanager
async def tools_parlay(make_settings: Any, database_url: str, mock: MockUpstream,
                       search_url: str, **overrides: Any) -> AsyncIterator[LiveParlay]:
    """A live Parlay whose web_search asks the SearXNG-shaped server at `search_url`."""
    settings = mock_settings(make_settings, database_url, mock, searxng_url=search_url,
                             **overrides)
    async with live_parlay(settings) as served:
        yield served


EVENT = TypeAdapter(ResponseStreamEvent)


async def response_events(http: httpx.AsyncClient, token: str, **body: Any,
                          ) -> list[dict[str, Any]]:
    """POST a streamed response; every event checked: SSE `event:` equals its `type`, the
    payload validates against the SDK's event model, sequence numbers count from 0."""
    events = []
    async with http.stream("POST", "/v1/responses", headers={"Authorization": f"Bearer {token}"},
                           json={"model": "mock-small", "stream": True, **body}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    for block in filter(None, text.split("\n\n")):
        kind, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert kind == f"event: {event['type']}"
        EVENT.validate_python(event)
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


class ToolUser(ConversationClient):
    """A guest of a live Parlay, over HTTP and through the official SDK."""

    def __init__(self, live: LiveParlay, http: httpx.AsyncClient, token: str) -> None:
        super().__init__(http, {"Authorization": f"Bearer {token}"})
        self.live, self.token = live, token
        self.sdk = AsyncOpenAI(base_url=f"{live.url}/v1", api_key=token, max_retries=0)

    async def create(self, **params: Any) -> dict[str, Any]:
        """A Response's JSON, validated against the SDK's Response model."""
        raw = await self.sdk.responses.with_raw_response.create(
            **{"model": "mock-small", **params})
        body = raw.http_response.json()
        Response.model_validate(body)
        return body

    async def events(self, **params: Any) -> list[dict[str, Any]]:
        return await response_events(self.http, self.token, **params)


@contextlib.asynccontextmanager
async def guest_of(live: LiveParlay, admin: dict[str, str]) -> AsyncIterator[ToolUser]:
    """A new guest with both tool switches on; the built-ins' admin settings clean before
    and after."""
    from support.mcp_helpers import guest_token, reset_builtins

    async with httpx.AsyncClient(base_url=live.url, timeout=60) as http:
        await reset_builtins(http, admin)
        yield ToolUser(live, http, await guest_token(http, tools_on=True))
        await reset_builtins(http, admin)
