"""Render every failure as the one error envelope, with the request id."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlay.db.availability import is_unavailable
from parlay.errors import ApiError, error_body

log = logging.getLogger("parlay.errors")

# OpenAI-compatible routes answer invalid bodies with 400, as OpenAI does (SDK: BadRequestError).
OPENAI_COMPAT_PATHS = frozenset({"/v1/chat/completions", "/v1/embeddings"})

_STATUS_CODES = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_token"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("conflict_error", "conflict"),
    413: ("invalid_request_error", "payload_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limited"),
}


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def json_error(
    status: int,
    type_: str,
    code: str,
    message: str,
    param: str | None,
    request_id: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = orjson.dumps(error_body(type_, code, message, param, request_id))
    return Response(body, status, headers=headers, media_type="application/json")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    body = orjson.dumps(exc.body(request_id_of(request)))
    return Response(body, exc.status, headers=exc.headers, media_type="application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    type_, code = _STATUS_CODES.get(exc.status_code, ("server_error", "http_error"))
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    headers = dict(exc.headers) if exc.headers else None
    return json_error(exc.status_code, type_, code, message, None, request_id_of(request), headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return json_error(400, "invalid_request_error", "invalid_json",
                          f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')}"
                          .rstrip(": "), None, request_id_of(request))
    param = _param_of(first.get("loc", ()))
    message = "; ".join(f"{_param_of(e.get('loc', ())) or 'body'}: {e.get('msg')}" for e in errors)
    path = request.url.path
    status = 400 if path in OPENAI_COMPAT_PATHS or path.startswith("/v1/responses") else 422
    code = "missing_field" if first.get("type") == "missing" else "validation_error"
    return json_error(status, "invalid_request_error", code, message, param,
                      request_id_of(request))


async def _database_error(request: Request, exc: Exception) -> Response:
    if not is_unavailable(exc):
        return await _unhandled(request, exc)
    log.warning("database unavailable request_id=%s: %s", request_id_of(request),
                type(exc).__name__)
    return json_error(503, "server_error", "database_unavailable",
                      "the database is unavailable; retry shortly", None,
                      request_id_of(request), {"Retry-After": "1"})


async def _unhandled(request: Request, exc: Exception) -> Response:
    request_id = request_id_of(request)
    log.exception("unhandled error request_id=%s path=%s", request_id, request.url.path)
    return json_error(500, "server_error", "internal_error",
                      "internal server error; quote the request id when reporting it",
                      None, request_id)


def _param_of(loc: tuple | list) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


Handler = Callable[[Request, Exception], Awaitable[Response]]
# Anything else is a 500 (`_unhandled`).
_HANDLERS: dict[type[BaseException], Handler] = {
    ApiError: _api_error,
    StarletteHTTPException: _http_error,
    RequestValidationError: _validation_error,
    sa_exc.DBAPIError: _database_error,
    sa_exc.TimeoutError: _database_error,
    OSError: _database_error,
}


async def render_exception(request: Request, exc: Exception) -> Response:
    """The one rendering of a failure, as FastAPI's exception handlers pick it (the most
    specific class of the exception's hierarchy); used by api.fastpath too."""
    for cls in type(exc).__mro__:
        handler = _HANDLERS.get(cls)
        if handler is not None:
            return await handler(request, exc)
    return await _unhandled(request, exc)


class UnhandledErrorMiddleware:
    """Innermost: renders what no route handler caught as the 500 envelope here, inside the
    request-id and CORS middlewares (Starlette would render it outermost, without them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for an error response: the server closes the connection
                raise
            response = await render_exception(Request(scope, receive), exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    for handled, handler in _HANDLERS.items():
        app.add_exception_handler(handled, handler)
    app.add_middleware(UnhandledErrorMiddleware)
