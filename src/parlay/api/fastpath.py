"""POST /v1/chat/completions and /v1/embeddings served without FastAPI's router.

The gateway's budget is about a millisecond of added latency; FastAPI's route matching,
dependency solving and response plumbing cost more than the proxying itself (see
bench/gateway.py). This pure ASGI layer answers exactly those two paths with the pieces the
FastAPI routes use (`get_principal` for auth and rate limits, `json_body`, `chat_response`),
so behaviour is identical; the FastAPI routes stay for OpenAPI and any other method.
It sits inside RequestContextMiddleware (request id, the one log line, metrics) and the
body limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from parlay.api.chat import chat_response, json_body, json_response
from parlay.api.chat_conversations import respond_in_conversation
from parlay.api.deps import get_principal
from parlay.errors import ApiError
from parlay.services.chat import ChatService


@dataclass(frozen=True, slots=True)
class RouteLabel:
    """What metrics read from scope["route"]: the route's path."""

    path: str


_ROUTES = {path: RouteLabel(path) for path in ("/v1/chat/completions", "/v1/embeddings")}


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
        request_id = scope.get("state", {}).get("request_id")
        try:
            response = await self._handle(request, route.path)
        except ApiError as exc:
            response = Response(orjson.dumps(exc.body(request_id)), exc.status,
                                headers=exc.headers, media_type="application/json")
        await response(scope, receive, send)

    @staticmethod
    async def _handle(request: Request, path: str) -> Response:
        headers = request.headers
        principal = await get_principal(request, headers.get("authorization"),
                                        headers.get("x-api-key"))
        body = await json_body(request)
        chat = ChatService(request.app.state.ctx)
        if path == "/v1/embeddings":
            return json_response(await chat.embeddings(principal.user_id, body))
        if body.get("conversation") is not None:  # conversation store: history in, turn stored
            return await respond_in_conversation(request, principal.user_id, body, chat)
        return await chat_response(request, principal.user_id, body, chat)
