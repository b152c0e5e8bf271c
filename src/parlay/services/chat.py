"""Chat completions and embeddings through the provider registry: one provider call.

Bodies are the client's OpenAI bodies, forwarded verbatim except that `model` becomes the
upstream's id and Parlay's own fields (`conversation`, `store`) are dropped. Streams are relayed
as the upstream's bytes; only events that mention usage are ever decoded here. This is the
gateway hot path: a plain chat completion goes from `api/fastpath.py` straight to
`ChatService.complete` / `open_stream`; the reply pipeline (`services/replies/`) calls
`complete` / `open_events` once per model step.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson

from parlay.errors import ApiError, BadRequest, UpstreamError, error_body
from parlay.providers.base import ModelInfo, UpstreamUnreachable
from parlay.providers.registry import ProviderRegistry, ResolvedModel
from parlay.providers.sse import DONE, data_event, is_done, usage_of
from parlay.services.ratelimit import RateLimiter
from parlay.services.usage import UsageRecorder

log = logging.getLogger("parlay.chat")

# Fields of the chat body that belong to Parlay (conversation store), never sent upstream.
PARLAY_FIELDS = frozenset({"conversation", "store"})
_T = TypeVar("_T")


class ChatService:
    """Built once at start-up (`AppContext.chat`); holds no per-request state."""

    def __init__(self, registry: ProviderRegistry, usage: UsageRecorder | None,
                 limiter: RateLimiter) -> None:
        self._registry = registry
        self._usage = usage
        self._limiter = limiter

    async def complete(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Non-streaming chat completion: the upstream's chat.completion object."""
        check_chat_body(body)
        await self._limiter.check_budget("chat_tokens", user_id)
        resolved = self._registry.resolve(body["model"])
        route, result = await self._first_answer(
            resolved, lambda r: r.provider.chat(upstream_body(body, r.info)))
        result["model"] = body["model"] if route is resolved else route.info.id
        self._record(user_id, route, result.get("usage"))
        return result

    async def open_stream(self, user_id: str, body: dict[str, Any], *,
                          request_id: str | None = None) -> ClosingEvents:
        """The plain gateway stream: the upstream's events for the client, ending with
        `data: [DONE]` or, when the upstream breaks, with one `data: {"error": ...}` event.
        Errors before the first byte (unknown model, upstream down) raise here."""
        events = await self.open_events(user_id, body, keep_usage_chunk=wants_usage(body))
        return client_stream(events, request_id)

    async def open_events(self, user_id: str, body: dict[str, Any], *,
                          keep_usage_chunk: bool) -> UpstreamEvents:
        """Resolve the model and open the upstream stream (errors raise here, before any
        byte is sent). Usage is always asked for, to be recorded."""
        check_chat_body(body)
        await self._limiter.check_budget("chat_tokens", user_id)
        resolved = self._registry.resolve(body["model"])

        async def opened(route: ResolvedModel) -> tuple[AsyncIterator[bytes], bytes]:
            events = route.provider.stream_chat(upstream_body(body, route.info, stream=True))
            try:
                return events, await anext(events)
            except StopAsyncIteration:
                raise UpstreamError(f"provider {route.provider.name!r} sent an empty "
                                    "stream") from None
            except BaseException:
                await _close(events)
                raise

        route, (events, first) = await self._first_answer(resolved, opened)
        client_model = body["model"] if route is resolved else route.info.id
        return UpstreamEvents(events, first, keep_usage_chunk=keep_usage_chunk,
                              on_usage=lambda usage: self._record(user_id, route, usage),
                              rename=_rename_pair(route.info.upstream_id, client_model))

    async def embeddings(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        check_embeddings_body(body)
        resolved = self._registry.resolve(body["model"])
        route, result = await self._first_answer(
            resolved, lambda r: r.provider.embeddings(upstream_body(body, r.info)))
        result["model"] = body["model"] if route is resolved else route.info.id
        self._record(user_id, route, result.get("usage"))
        return result

    async def _first_answer(
        self, resolved: ResolvedModel, call: Callable[[ResolvedModel], Awaitable[_T]]
    ) -> tuple[ResolvedModel, _T]:
        """Try the model, then its configured fallbacks, on upstream failures (5xx/timeouts)."""
        failure: UpstreamError | None = None
        for route in (resolved, *resolved.fallbacks):
            try:
                answer = await call(route)
            except UpstreamError as exc:
                if isinstance(exc, UpstreamUnreachable):
                    self._registry.mark_reachable(route.provider.name, False, exc.message)
                failure = failure or exc
                continue
            self._registry.mark_reachable(route.provider.name, True)
            return route, answer
        assert failure is not None
        raise failure

    def _record(self, user_id: str, route: ResolvedModel, usage: object) -> None:
        if self._usage is None:
            return
        if not isinstance(usage, dict):
            usage = {}
        prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
        self._usage.record(user_id, route.info.id, prompt, completion)
        self._limiter.spend_later("chat_tokens", user_id, prompt + completion)


class ClosingEvents:
    """The events of an async generator; `aclose()` closes it, then what it reads from
    (`on_close`), even when the generator never started."""

    def __init__(self, events: AsyncGenerator[bytes, None],
                 on_close: Callable[[], Awaitable[None]]) -> None:
        self._events = events
        self._on_close = on_close

    def __aiter__(self) -> ClosingEvents:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        return self._events.__anext__()

    async def aclose(self) -> None:
        try:
            await self._events.aclose()
        finally:
            await self._on_close()


class UpstreamEvents(ClosingEvents):
    """One opened upstream stream, event by event as the upstream's bytes (model renamed
    when the client used another id), without its `[DONE]`: iteration ends there and
    `done` turns true. A stream that breaks or ends early raises `ApiError`. Usage is noted
    (`usage`) and recorded once; a usage-only chunk is kept only if asked for.
    `aclose()` closes the upstream request."""

    def __init__(self, upstream: AsyncIterator[bytes], first: bytes, *, keep_usage_chunk: bool,
                 on_usage: Callable[[dict[str, Any] | None], None],
                 rename: tuple[bytes, bytes] | None) -> None:
        self._upstream = upstream
        self._keep_usage_chunk = keep_usage_chunk
        self._record_usage = on_usage
        self._rename = rename
        self.usage: dict[str, Any] | None = None
        self.done = False
        super().__init__(self._relay(first), lambda: _close(upstream))

    async def _relay(self, event: bytes) -> AsyncGenerator[bytes, None]:
        rename = self._rename
        try:
            while not is_done(event):
                if b'"usage"' in event and (found := usage_of(event)) is not None:
                    self.usage, alone = found
                    if alone and not self._keep_usage_chunk:
                        event = await anext(self._upstream)
                        continue
                yield event if rename is None else _renamed(event, rename)
                event = await anext(self._upstream)
            self.done = True
        except StopAsyncIteration:
            raise UpstreamError("the upstream stream ended before [DONE]") from None
        finally:
            if self.done or self.usage is not None:
                self._record_usage(self.usage)


def client_stream(events: UpstreamEvents, request_id: str | None) -> ClosingEvents:
    """The plain gateway's stream for the client: the events, then `[DONE]`, or one final
    error event when the upstream breaks. `aclose()` closes the upstream request."""
    return ClosingEvents(_ended(events, request_id), events.aclose)


async def _ended(events: UpstreamEvents, request_id: str | None) -> AsyncGenerator[bytes, None]:
    try:
        async for event in events:
            yield event
    except Exception as exc:
        yield error_event(exc, request_id)
        return
    yield DONE


def error_event(exc: Exception, request_id: str | None) -> bytes:
    """The last event of a stream that failed after it started (no `[DONE]` follows)."""
    if not isinstance(exc, ApiError):
        log.error("stream failed request_id=%s", request_id, exc_info=exc)
        exc = UpstreamError("the stream failed inside Parlay", code="stream_error")
    return data_event(error_body(exc.type, exc.code, exc.message, exc.param, request_id))


def check_chat_body(body: Any) -> None:
    """The little Parlay must know; everything else is the upstream's to judge."""
    _check_object(body)
    _check_model(body)
    messages = body.get("messages")
    if messages is None:
        raise BadRequest("missing required parameter 'messages'", code="missing_field",
                         param="messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", code="invalid_value",
                         param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(f"messages[{index}] must be an object with a string 'role'",
                             code="invalid_value", param=f"messages[{index}]")
    if body.get("stream") not in (None, True, False):
        raise BadRequest("'stream' must be a boolean", code="invalid_type", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest("'stream_options' must be an object", code="invalid_type",
                         param="stream_options")


def check_embeddings_body(body: Any) -> None:
    _check_object(body)
    _check_model(body)
    value = body.get("input")
    if value is None:
        raise BadRequest("missing required parameter 'input'", code="missing_field",
                         param="input")
    if not isinstance(value, str | list) or (isinstance(value, list) and not value):
        raise BadRequest("'input' must be a string or a non-empty array", code="invalid_value",
                         param="input")


def upstream_body(body: dict[str, Any], info: ModelInfo, *,
                  stream: bool = False) -> dict[str, Any]:
    """The client's body for the upstream: its model id, without Parlay's own fields; a
    stream always asks for usage (Parlay records it)."""
    forwarded = {k: v for k, v in body.items() if k not in PARLAY_FIELDS}
    forwarded["model"] = info.upstream_id
    if stream:
        forwarded["stream"] = True
        forwarded["stream_options"] = {**(body.get("stream_options") or {}),
                                       "include_usage": True}
    return forwarded


def wants_usage(body: dict[str, Any]) -> bool:
    """The client asked for the final usage chunk (`stream_options.include_usage`)."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _check_object(body: Any) -> None:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_body")


def _check_model(body: dict[str, Any]) -> None:
    model = body.get("model")
    if model is None:
        raise BadRequest("missing required parameter 'model'", code="missing_field",
                         param="model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' must be a non-empty string", code="invalid_type",
                         param="model")


def _rename_pair(upstream_id: str, client_id: str) -> tuple[bytes, bytes] | None:
    if upstream_id == client_id:
        return None
    return orjson.dumps(upstream_id), orjson.dumps(client_id)


def _renamed(event: bytes, rename: tuple[bytes, bytes]) -> bytes:
    old, new = rename
    return (event.replace(b'"model":' + old, b'"model":' + new)
                 .replace(b'"model": ' + old, b'"model": ' + new))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


async def _close(events: AsyncIterator[bytes]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
