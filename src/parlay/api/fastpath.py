"""POST /v1/chat/completions, /v1/embeddings and /v1/responses served without FastAPI's router.

The gateway's budget is about a millisecond of added latency; FastAPI's route matching,
dependency solving and response plumbing cost more than the proxying itself (see
bench/gateway.py). This pure ASGI layer answers exactly those paths with the functions
the FastAPI routes call (`get_principal` for auth and rate limits, then `chat_response`,
`embeddings_response` or `respond`), and renders failures with the routes' own exception handlers
(`render_exception`), so both answer alike; the FastAPI routes stay for OpenAPI and any other
method. It sits inside RequestContextMiddleware (request id, the one log line, metrics) and
the body limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from parlay.api.chat import chat_response, embeddings_response
from parlay.api.deps import get_principal
from parlay.api.errors import render_exception
from parlay.api.responses import respond

Handler = Callable[[Request, str], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    """What metrics read from scope["route"] (the route's path), and its handler."""

    path: str
    handler: Handler


_ROUTES = {route.path: route for route in (FastRoute("/v1/chat/completions", chat_response),
                                           FastRoute("/v1/embeddings", embeddings_response),
                                           FastRoute("/v1/responses", respond))}


class GatewayFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = _ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive)
        try:
            headers = request.headers
            principal = await get_principal(request, headers.get("authorization"),
                                            headers.get("x-api-key"))
            response = await route.handler(request, principal.user_id)
        except Exception as exc:
            response = await render_exception(request, exc)
        await response(scope, receive, send)
