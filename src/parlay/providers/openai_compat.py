"""Any OpenAI-compatible HTTP upstream (OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter...).

One pooled keep-alive aiohttp session per provider (`providers.upstream_session`), created in
the running loop on first use. Stream events are forwarded as the upstream's own bytes, split
on blank lines, never decoded here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from parlay.errors import (
    ApiError,
    BadRequest,
    Conflict,
    NotFound,
    RateLimited,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from parlay.providers.base import ModelInfo, UpstreamUnreachable
from parlay.providers.sse import is_done, next_event
from parlay.providers.upstream_session import kept_alive_connection, new_session

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_PATHS = ("/models", "/chat/completions", "/embeddings")
# What the upstream client raises: aiohttp's errors, and timeouts.
_CLIENT_FAILURES = (aiohttp.ClientError, TimeoutError)


class OpenAICompatProvider:
    kind = "openai_compat"

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 300.0,
        *,
        connect_timeout: float = 5.0,
        retries: int = 0,
        max_connections: int = 1000,
        pool_timeout: float = 5.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.timeout = timeout
        self.retries = retries
        default_headers = {"accept": "application/json", "accept-encoding": "identity",
                           **(headers or {})}
        if api_key:
            default_headers["authorization"] = f"Bearer {api_key}"
        _check_headers(default_headers)
        self._headers = default_headers
        self._connect_timeout = connect_timeout
        # One slot per upstream connection in use: a request holds one from sending until its
        # answer is read or its stream closed, waiting at most `pool_timeout` for it.
        self._slots = asyncio.Semaphore(max_connections)
        self._pool_timeout = pool_timeout
        self._urls = {path: self.base_url + path for path in _PATHS}
        self._client: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"OpenAICompatProvider({self.name!r}, {self.base_url!r})"

    async def list_models(self) -> list[ModelInfo]:
        payload = await self._request_json("GET", "/models", None, retries=0)
        entries = payload.get("data") if isinstance(payload, dict) else payload
        if not isinstance(entries, list):
            raise UpstreamError(f"provider {self.name!r}: GET /models did not return a list")
        return [self._model_info(entry) for entry in entries
                if isinstance(entry, dict) and isinstance(entry.get("id"), str)]

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._post_json("/chat/completions", body)

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._post_json("/embeddings", body)

    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        await self._take_slot()
        try:
            response = await self._open("POST", "/chat/completions", orjson.dumps(body),
                                        retries=self.retries)
        except BaseException:
            self._slots.release()
            raise
        saw_done = False
        try:
            buffer = b""
            async for piece in _received(response.content):
                buffer += piece
                while True:
                    event, buffer = next_event(buffer)
                    if event is None:
                        break
                    if is_done(event):
                        saw_done = await _read_to_end(response)
                        yield event
                        return
                    if event.strip():
                        yield event
            if buffer.strip():
                saw_done = is_done(buffer)
                yield buffer + b"\n\n"
        except _CLIENT_FAILURES as exc:
            raise self._failure(exc, "stopped sending", "broke the stream") from None
        finally:
            _finish(response)
            self._slots.release()
        if not saw_done:
            raise UpstreamError(f"provider {self.name!r} ended the stream before [DONE]")

    async def aclose(self) -> None:
        self._closed = True
        if self._client is not None:
            await self._client.close()

    async def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = await self._request_json("POST", path, orjson.dumps(body),
                                           retries=self.retries)
        if not isinstance(payload, dict):
            raise UpstreamError(f"provider {self.name!r} answered with a non-object JSON body")
        return payload

    async def _request_json(self, method: str, path: str, data: bytes | None, *,
                            retries: int) -> Any:
        await self._take_slot()
        try:
            response = await self._open(method, path, data, retries=retries)
            try:
                raw = await response.read()
            except _CLIENT_FAILURES as exc:
                raise self._failure(exc, "timed out", "failed mid-answer") from None
            finally:
                _finish(response)
        finally:
            self._slots.release()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"provider {self.name!r} answered with invalid JSON "
                                f"(HTTP {response.status})") from None

    async def _take_slot(self) -> None:
        """A free connection slot, waiting at most `pool_timeout`; else 503 upstream_busy."""
        if not self._slots.locked():
            await self._slots.acquire()  # free now: returns without suspending
            return
        try:
            async with asyncio.timeout(self._pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise UpstreamBusy(
                f"provider {self.name!r} is at its connection limit and none came free within "
                f"{self._pool_timeout:g}s; retry shortly", headers={"Retry-After": "1"},
            ) from None

    async def _open(self, method: str, path: str, data: bytes | None, *,
                    retries: int) -> aiohttp.ClientResponse:
        """Send, retrying on connect errors and 5xx; a 2xx/3xx response, or the mapped error."""
        attempt = 0
        while True:
            try:
                response = await self._send(method, path, data)
            except _CLIENT_FAILURES as exc:
                failure = self._failure(exc, "timed out", "failed")
            else:
                if response.status < 400:
                    return response
                failure = await self._status_error(response)
            retryable = isinstance(failure, UpstreamUnreachable) or (
                isinstance(failure, UpstreamError) and _status_of(failure) in _RETRYABLE_STATUS)
            if not retryable or attempt >= retries:
                raise failure
            attempt += 1
            await asyncio.sleep(0.1 * 2**attempt)

    async def _send(self, method: str, path: str, data: bytes | None) -> aiohttp.ClientResponse:
        """One request, up to its response's head (redirects are not followed)."""
        session, url = self._session(), self._urls[path]
        try:
            return await session.request(method, url, data=_payload(data), allow_redirects=False)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if isinstance(exc, aiohttp.ClientConnectorError) or not kept_alive_connection():
                raise
        # The server closed a kept-alive connection just as it was reused, before answering:
        # it never handled the request, so one more try is safe (even for a POST).
        return await session.request(method, url, data=_payload(data), allow_redirects=False)

    def _session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise UpstreamError(f"provider {self.name!r} was removed or shut down")
        if self._client is None:
            self._client = new_session(self.base_url, headers=self._headers,
                                       connect_timeout=self._connect_timeout,
                                       read_timeout=self.timeout)
        return self._client

    def _failure(self, exc: BaseException, timed_out: str, broke: str) -> ApiError:
        """The API error for an exception of the HTTP client."""
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return UpstreamUnreachable(f"provider {self.name!r} is unreachable: no connection "
                                       f"within {self._connect_timeout:g}s")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return UpstreamUnreachable(f"provider {self.name!r} is unreachable: {exc}")
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(f"provider {self.name!r} {timed_out} "
                                   f"(nothing for {self.timeout:g}s)")
        return UpstreamError(f"provider {self.name!r} {broke}: {str(exc) or type(exc).__name__}")

    async def _status_error(self, response: aiohttp.ClientResponse) -> ApiError:
        status = response.status
        try:
            raw = await response.read()
        except _CLIENT_FAILURES:
            raw = b""
        finally:
            _finish(response)
        message, code = _upstream_message(raw, status)
        if status >= 500 or status in (401, 403, 407):
            # 401/403 mean Parlay's own upstream credentials are wrong: not the caller's fault.
            what = "rejected Parlay's credentials" if status < 500 else "failed"
            error = UpstreamError(f"provider {self.name!r} {what} (HTTP {status}): {message}")
            error.upstream_status = status  # type: ignore[attr-defined]
            return error
        headers = {}
        if retry_after := response.headers.get("retry-after"):
            headers["Retry-After"] = retry_after
        error_class = _CLIENT_ERRORS.get(status, BadRequest)
        return error_class(message, code=code or error_class.code, status=status,
                           headers=headers)

    def _model_info(self, entry: dict[str, Any]) -> ModelInfo:
        model_id = entry["id"]
        return ModelInfo(
            id=model_id,
            provider=self.name,
            upstream_id=model_id,
            name=str(entry.get("name") or model_id),
            owned_by=str(entry.get("owned_by") or self.name),
            created=int(entry.get("created") or 0),
            capabilities=_capabilities_of(entry),
            context_length=_context_length_of(entry),
            supported_parameters=[p for p in entry.get("supported_parameters") or []
                                  if isinstance(p, str)],
        )


async def _read_to_end(response: aiohttp.ClientResponse) -> bool:
    """After [DONE], take the response's last bytes so its connection can be reused."""
    if not response.content.is_eof():
        with contextlib.suppress(*_CLIENT_FAILURES):
            async with asyncio.timeout(1.0):
                await response.content.read()
    return True


def _payload(data: bytes | None) -> aiohttp.BytesPayload | None:
    """The body as the bytes it is, carrying its content type (no per-request header merge)."""
    return aiohttp.BytesPayload(data, content_type="application/json") if data else None


def _finish(response: aiohttp.ClientResponse) -> None:
    """Pool the connection when the body was read to the end; else close it, which is what
    tells the upstream to stop."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()


def _check_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        text = f"{name}{value}"
        if "\r" in text or "\n" in text or not text.isascii():
            field = "api_key" if name == "authorization" else "headers"
            raise ValidationFailed(f"upstream header {name!r} must be ASCII without CR or LF",
                                   code="invalid_header", param=field)


def _status_of(error: ApiError) -> int | None:
    return getattr(error, "upstream_status", None)


_CLIENT_ERRORS: dict[int, type[ApiError]] = {404: NotFound, 409: Conflict, 429: RateLimited}


def _upstream_message(raw: bytes, status: int) -> tuple[str, str | None]:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace").strip()[:500]
        return text or f"upstream answered HTTP {status}", None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return str(error.get("message") or error), code if isinstance(code, str) else None
    if isinstance(error, str):
        return error, None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return payload["message"], None
    return f"upstream answered HTTP {status}", None


def _capabilities_of(entry: dict[str, Any]) -> list[str]:
    """Best-effort capabilities from what common upstreams report (OpenRouter, vLLM...)."""
    model_id = entry["id"].lower()
    if "embed" in model_id:
        return ["embeddings"]
    capabilities = ["chat"]
    parameters = set(entry.get("supported_parameters") or [])
    if "tools" in parameters:
        capabilities.append("tools")
    modalities = (entry.get("architecture") or {}).get("input_modalities") or []
    if "image" in modalities:
        capabilities.append("vision")
    if parameters & {"reasoning", "include_reasoning"}:
        capabilities.append("reasoning")
    return capabilities


def _context_length_of(entry: dict[str, Any]) -> int | None:
    for key in ("context_length", "max_model_len", "context_window"):
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("n_ctx_train"), int):
        return meta["n_ctx_train"]
    return None


async def _received(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive. When the connection drops, aiohttp raises before
    handing out bytes it had already buffered (a client slower than the upstream): those are
    salvaged first, so every event the upstream did send reaches the client before the error.
    `_read_nowait` is aiohttp's own buffer read, minus the exception check (aiohttp pinned)."""
    while True:
        try:
            piece = await content.readany()
        except _CLIENT_FAILURES:
            with contextlib.suppress(Exception):
                leftover = content._read_nowait(-1)
                if leftover:
                    yield leftover
            raise
        if not piece:
            return
        yield piece
