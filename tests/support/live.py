"""Parlay served by a real uvicorn on a free loopback port, for tests that drive the
official `openai` SDK over a socket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from openai import AsyncOpenAI

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
