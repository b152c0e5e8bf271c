"""A user's conversations over HTTP, as the tests that check stored items use them."""

from __future__ import annotations

from typing import Any

import httpx


class ConversationClient:
    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.http, self.headers = http, headers

    async def conversation(self) -> str:
        response = await self.http.post("/v1/conversations", headers=self.headers, json={})
        assert response.status_code == 201, response.text
        return response.json()["data"]["id"]

    async def items(self, conv: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"/v1/conversations/{conv}/items", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    async def say(self, conv: str, content: str, **extra: Any) -> httpx.Response:
        """Post a user message (answered unless `generate: False`)."""
        return await self.http.post(f"/v1/conversations/{conv}/items", headers=self.headers,
                                    json={"role": "user", "content": content, **extra})
