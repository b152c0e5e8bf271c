"""Talking to Parlay's /v1/mcp with the official SDK client, and setting tools up."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

BUILTINS = ("web_search", "web_scraper", "code_executor")
CLEAN = {"enabled": True, "reason": None,
         "content_filter": {"disallowed_keywords": [], "require_approval_for": []}}


@contextlib.asynccontextmanager
async def mcp_session(base_url: str, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                              timeout=httpx2.Timeout(60))
    async with http, Client(streamable_http_client(f"{base_url}/v1/mcp", http_client=http),
                            cache=None) as client:
        yield client


async def guest_token(http: httpx.AsyncClient, *, tools_on: bool = True) -> str:
    response = await http.post("/llm/auth/guest-login")
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    if tools_on:
        settings = await http.patch(
            "/v1/users/me/settings", headers={"Authorization": f"Bearer {token}"},
            json={"advanced_settings": {"web_search_enabled": True,
                                        "code_execution_enabled": True}})
        assert settings.status_code == 200, settings.text
    return token


async def set_tool(http: httpx.AsyncClient, admin: dict[str, str], tool_id: str,
                   body: dict[str, Any]) -> dict[str, Any]:
    response = await http.patch(f"/v1/admin/mcp/tools/{tool_id}", headers=admin, json=body)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def reset_builtins(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for tool_id in BUILTINS:
        await set_tool(http, admin, tool_id, CLEAN)


def outcome(result: Any) -> dict[str, Any]:
    """The structured part of a CallToolResult, plus its text."""
    structured = dict(result.structured_content or {})
    structured["text"] = "\n".join(getattr(block, "text", "") for block in result.content)
    structured["is_error"] = result.is_error
    return structured
