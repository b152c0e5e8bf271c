"""/v1/mcp: Parlay's tools over the Model Context Protocol (Streamable HTTP, mcp SDK).

Stateless JSON mode: every POST is a whole exchange, so any worker answers any request.
Auth is Parlay's own (Bearer JWT or API key, 401 without) and is checked before the SDK
sees the request; the caller then sees exactly the tools the registry allows them.

The SDK's low-level `Server` is used rather than `MCPServer`: MCPServer serves one fixed set
of Python functions, while Parlay's list differs per caller (admin switches, the user's
settings, external servers). The SDK's session manager runs in a task of its own, started
and stopped with the app, so its task group is entered and left in one task.
"""

from __future__ import annotations

import asyncio
from typing import Any

import mcp_types as types
from mcp.server.caching import CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from parlay import __version__
from parlay.services.principals import Principal
from parlay.services.tool_registry import ToolOutcome, ToolRegistry

PATH = "/v1/mcp"
_PRINCIPAL = "parlay.principal"


def _caller(ctx: ServerRequestContext[Any, Any]) -> tuple[ToolRegistry, Principal]:
    request = ctx.request
    assert request is not None, "Parlay serves MCP over HTTP only"
    return request.app.state.ctx.tools, request.scope[_PRINCIPAL]


async def _list_tools(ctx: ServerRequestContext[Any, Any],
                      _params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    registry, principal = _caller(ctx)
    tools = []
    for spec in await registry.catalog(principal.user_id):
        description = spec.description
        if not spec.available:
            description = f"(Unavailable: {spec.unavailable_reason}) {description}"
        tools.append(types.Tool(
            name=spec.name, title=spec.title, description=description,
            input_schema=spec.input_schema,
            _meta={"parlay/available": spec.available,
                   "parlay/unavailable_reason": spec.unavailable_reason}))
    return types.ListToolsResult(tools=tools)


async def _call_tool(ctx: ServerRequestContext[Any, Any],
                     params: types.CallToolRequestParams) -> types.CallToolResult:
    registry, principal = _caller(ctx)
    outcome = await registry.execute(principal.user_id, params.name, params.arguments or {},
                                     source="mcp")
    return _result(outcome)


def _result(outcome: ToolOutcome) -> types.CallToolResult:
    structured = {"status": outcome.status, "error_code": outcome.error_code,
                  "approval_id": outcome.approval_id, "call_log_id": outcome.log_id,
                  "data": outcome.data}
    return types.CallToolResult(content=[types.TextContent(text=outcome.output)],
                                structured_content=structured, is_error=outcome.is_error)


class McpEndpoint:
    """The ASGI app at exactly /v1/mcp."""

    def __init__(self) -> None:
        self.server: Server[Any] = Server(
            "parlay", version=__version__,
            instructions="Parlay's tools for the signed-in user. A call may come back with "
                         "status pending_approval: the user approves it at "
                         "/v1/tool-approvals, and it runs then.",
            on_list_tools=_list_tools, on_call_tool=_call_tool,
            # The list differs per caller and changes with admin switches: never reuse it.
            cache_hints={"tools/list": CacheHint(ttl_ms=0, scope="private")})
        self.manager = StreamableHTTPSessionManager(
            app=self.server, json_response=True, stateless=True,
            # Host/Origin pinning guards unauthenticated local servers against DNS rebinding;
            # every request here carries Parlay credentials, and Parlay runs under any name.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()

        async def run() -> None:
            async with self.manager.run():
                ready.set()
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name="mcp-session-manager")
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiter.cancel()
            await self._task  # raises what stopped it

    async def aclose(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = scope["app"].state.ctx
        headers = Headers(scope=scope)
        principal = await ctx.principals.resolve(headers.get("authorization"),
                                                 headers.get("x-api-key"))
        scope.setdefault("state", {})["user_id"] = principal.user_id
        subject = f"key:{principal.api_key_id}" if principal.api_key_id else principal.user_id
        await ctx.limiter.hit("api", subject)
        scope[_PRINCIPAL] = principal
        await self.manager.handle_request(scope, receive, send)
