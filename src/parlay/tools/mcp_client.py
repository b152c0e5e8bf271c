"""External MCP servers: list their tools and call one, over Streamable HTTP (mcp SDK).

One connection per operation: remote servers may be stateless or drop sessions, and a
tool call is rare next to its own cost. The operator registered the server, so the SSRF
guard does not apply; environment proxies do not either (trust_env=False).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from parlay.tools.base import ToolFailure, ToolOutput

DEFAULT_TIMEOUT = 45.0


@dataclass(frozen=True, slots=True)
class RemoteTool:
    name: str
    description: str
    input_schema: dict[str, Any]


class McpRemote:
    def __init__(self, url: str, headers: dict[str, str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.headers = headers or {}
        self.timeout = timeout
        self._refused_with: int | None = None  # the SDK reports a 4xx/5xx without its status

    async def _note_status(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self._refused_with = response.status_code

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[Client]:
        http = httpx2.AsyncClient(headers=self.headers, trust_env=False,
                                  timeout=httpx2.Timeout(self.timeout),
                                  event_hooks={"response": [self._note_status]})
        async with http:
            transport = streamable_http_client(self.url, http_client=http)
            async with Client(transport, cache=None, read_timeout_seconds=self.timeout) as client:
                yield client

    async def list_tools(self) -> list[RemoteTool]:
        try:
            async with self._connected() as client:
                listed = await client.list_tools()
        except Exception as exc:
            raise _failure(exc, self._refused_with) from None
        return [RemoteTool(t.name, t.description or "", dict(t.input_schema or {}))
                for t in listed.tools]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        try:
            async with self._connected() as client:
                result = await client.call_tool(name, arguments)
        except Exception as exc:
            raise _failure(exc, self._refused_with) from None
        texts = []
        for block in result.content:
            text = getattr(block, "text", None)
            texts.append(text if isinstance(text, str) else f"[{block.type} content omitted]")
        data: dict[str, Any] = {"content": texts}
        if result.structured_content is not None:
            data["structured_content"] = result.structured_content
        return ToolOutput(text="\n".join(texts), data=data, is_error=bool(result.is_error))


def _failure(exc: BaseException, status: int | None) -> ToolFailure:
    """One readable reason; the SDK raises exception groups from its task groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if status is not None:
        return ToolFailure("mcp_server_error", f"the MCP server answered HTTP {status}")
    if isinstance(exc, MCPError):
        return ToolFailure("mcp_server_error", f"the MCP server refused: {exc}")
    if isinstance(exc, httpx2.HTTPStatusError):
        return ToolFailure("mcp_server_error",
                           f"the MCP server answered HTTP {exc.response.status_code}")
    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        return ToolFailure("mcp_server_error", "the MCP server did not answer in time")
    return ToolFailure("mcp_server_error", f"the MCP server failed: {type(exc).__name__}")
