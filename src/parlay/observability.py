"""Request ids, one structured log line per request, Prometheus metrics: one ASGI middleware."""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlay.errors import ApiError
from parlay.logbuffer import BatchingStreamHandler
from parlay.services.ratelimit import route_group

access_log = logging.getLogger("parlay.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Route templates x methods x statuses stay few; a bound keeps odd methods from piling up.
MAX_LABEL_SETS = 10_000


class Metrics:
    """Request counters and latencies. `labels()` validates and locks on every call, so each
    (method, route, status) keeps its children once looked up."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "parlay_http_requests_total", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "parlay_http_request_duration_seconds", "Time to the last response byte",
            ["method", "route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.errors = Counter(
            "parlay_http_errors_total", "Responses with status >= 400", ["route", "status"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}

    def record(self, method: str, route: str, status: int, elapsed: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            code = str(status)
            children = (self.requests.labels(method, route, code),
                        self.latency.labels(method, route),
                        self.errors.labels(route, code) if status >= 400 else None)
            if len(self._children) < MAX_LABEL_SETS:
                self._children[(method, route, status)] = children
        requests, latency, errors = children
        requests.inc()
        latency.observe(elapsed)
        if errors is not None:
            errors.inc()


class RequestContextMiddleware:
    """Sets scope['state']['request_id'], echoes X-Request-ID, logs and measures the request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = request_id
        header_value = request_id.encode()
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", header_value)]
                decision = scope["state"].get("ratelimit")
                if decision is not None and status != 429:
                    headers += [(k.lower().encode(), v.encode())
                                for k, v in decision.headers().items()]
                message["headers"] = headers
            await send(message)

        try:
            if await self._within_anonymous_limits(scope, send_with_id):
                await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    async def _within_anonymous_limits(self, scope: Scope, send: Send) -> bool:
        """Routes open to anonymous callers (auth, public shares) are limited per client IP."""
        group = route_group(scope["method"], scope["path"])
        if group not in ("auth", "public"):
            return True
        limiter = scope["app"].state.ctx.limiter
        client_ip = (scope.get("client") or ("unknown",))[0]
        try:
            scope["state"]["ratelimit"] = await limiter.hit(group, f"ip:{client_ip}")
        except ApiError as exc:
            response = JSONResponse(exc.body(scope["state"]["request_id"]), exc.status,
                                    headers=exc.headers)
            await response(scope, _no_body, send)
            return False
        return True

    def _record(self, scope: Scope, status: int, elapsed: float, request_id: str) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.record(method, route, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={"fields": {
                    "method": method, "path": scope["path"], "status": status,
                    "ms": round(elapsed * 1000, 2), "request_id": request_id,
                    "user_id": scope.get("state", {}).get("user_id"),
                }},
            )


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str) -> None:
    # JsonFormatter prints none of the caller's file and line, thread or process; not
    # collecting them (the logging HOWTO's "Optimization") saves a stack walk per line.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = BatchingStreamHandler(sys.stderr)  # one line per request, written in batches
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpx2", "httpcore", "mcp",
                  "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
