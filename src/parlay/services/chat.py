"""Chat completions and embeddings through the provider registry: the gateway hot path.

Bodies are the client's OpenAI bodies, forwarded verbatim except that `model` becomes the
upstream's id and Parlay's own fields (`conversation`, `store`) are dropped. Streams are relayed
as the upstream's bytes; only events that mention usage are ever decoded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from parlay.errors import ApiError, BadRequest, UpstreamError, error_body
from parlay.providers.base import UpstreamUnreachable
from parlay.providers.registry import ProviderRegistry, ResolvedModel

if TYPE_CHECKING:
    from parlay.context import AppContext
    from parlay.services.usage import UsageRecorder

log = logging.getLogger("parlay.chat")

# Fields of the chat body that belong to Parlay (conversation store), never sent upstream.
PARLAY_FIELDS = frozenset({"conversation", "store"})
_DONE = b"data: [DONE]"
_T = TypeVar("_T")
SSE_DONE: Any = object()  # what sse_payloads gives for `data: [DONE]`


class ChatService:
    def __init__(self, ctx: AppContext) -> None:
        self._registry: ProviderRegistry = ctx.providers
        self._usage: UsageRecorder | None = ctx.usage
        self._limiter = ctx.limiter

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
                          request_id: str | None = None) -> AsyncIterator[bytes]:
        """Resolve the model and open the upstream stream (errors raise here, before any
        byte is sent); then return the SSE events, ending with `data: [DONE]` or, when the
        upstream breaks, with one `data: {"error": ...}` event."""
        check_chat_body(body)
        await self._limiter.check_budget("chat_tokens", user_id)
        resolved = self._registry.resolve(body["model"])
        wants_usage = _wants_usage(body)

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
        return StreamRelay(events, first, wants_usage=wants_usage,
                           on_usage=lambda usage: self._record(user_id, route, usage),
                           rename=_rename_pair(route.info.upstream_id, client_model),
                           request_id=request_id)

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

    def _record(self, user_id: str, route: ResolvedModel, usage: Any) -> None:
        if self._usage is None:
            return
        if not isinstance(usage, dict):
            usage = {}
        prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
        self._usage.record(user_id, route.info.id, prompt, completion)
        self._limiter.spend_later("chat_tokens", user_id, prompt + completion)


class StreamRelay:
    """The client's view of an upstream stream: usage noted (and stripped unless asked for),
    model renamed when the client used another id, upstream failures turned into one final
    error event. `aclose()` (or cancelling the consumer) closes the upstream request."""

    def __init__(self, events: AsyncIterator[bytes], first: bytes, *, wants_usage: bool,
                 on_usage: Callable[[Any], None], rename: tuple[bytes, bytes] | None,
                 request_id: str | None) -> None:
        self._upstream = events
        self._events = self._relay(events, first, wants_usage, on_usage, rename, request_id)

    def __aiter__(self) -> StreamRelay:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        return self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()
        await _close(self._upstream)

    @staticmethod
    async def _relay(events: AsyncIterator[bytes], event: bytes, wants_usage: bool,
                     on_usage: Callable[[Any], None], rename: tuple[bytes, bytes] | None,
                     request_id: str | None) -> AsyncIterator[bytes]:
        usage: Any = None
        done = False
        try:
            while True:
                if event.startswith(_DONE):
                    done = True
                    yield event
                    return
                if b'"usage"' in event and (found := _usage_of(event)) is not None:
                    usage, chunk_is_usage_only = found
                    if chunk_is_usage_only and not wants_usage:
                        event = await anext(events)
                        continue
                if rename is not None:
                    event = _renamed(event, rename)
                yield event
                event = await anext(events)
        except StopAsyncIteration:
            yield _error_event(UpstreamError("the upstream stream ended before [DONE]"),
                               request_id)
        except ApiError as exc:
            yield _error_event(exc, request_id)
        except Exception:
            log.exception("stream relay failed request_id=%s", request_id)
            yield _error_event(UpstreamError("the stream failed inside Parlay",
                                             code="stream_error"), request_id)
        finally:
            if done or usage is not None:
                on_usage(usage)


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


def upstream_body(body: dict[str, Any], info: Any, *, stream: bool = False) -> dict[str, Any]:
    """The client's body for the upstream: its model id, without Parlay's own fields."""
    forwarded = {k: v for k, v in body.items() if k not in PARLAY_FIELDS}
    forwarded["model"] = info.upstream_id
    if stream:
        forwarded["stream"] = True
        forwarded["stream_options"] = {**(body.get("stream_options") or {}),
                                       "include_usage": True}
    return forwarded


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


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _usage_of(event: bytes) -> tuple[Any, bool] | None:
    """(usage, chunk has no choices) for an event carrying a usage object, else None."""
    if b'"usage":null' in event or b'"usage": null' in event:
        return None
    payload = event.partition(b"data:")[2].strip()
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    usage = chunk.get("usage") if isinstance(chunk, dict) else None
    if not isinstance(usage, dict):
        return None
    return usage, not chunk.get("choices")


def sse_payloads(event: bytes) -> list[Any]:
    """The decoded JSON of each `data:` line of one SSE event (SSE_DONE for [DONE]); lines
    that are not JSON are skipped. The one parser of relayed events (replies, responses)."""
    payloads: list[Any] = []
    for line in event.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            payloads.append(SSE_DONE)
            continue
        try:
            payloads.append(orjson.loads(payload))
        except orjson.JSONDecodeError:
            continue
    return payloads


def _rename_pair(upstream_id: str, client_id: str) -> tuple[bytes, bytes] | None:
    if upstream_id == client_id:
        return None
    return orjson.dumps(upstream_id), orjson.dumps(client_id)


def _renamed(event: bytes, rename: tuple[bytes, bytes]) -> bytes:
    old, new = rename
    return (event.replace(b'"model":' + old, b'"model":' + new)
                 .replace(b'"model": ' + old, b'"model": ' + new))


def _error_event(exc: ApiError, request_id: str | None) -> bytes:
    body = error_body(exc.type, exc.code, exc.message, exc.param, request_id)
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


async def _close(events: AsyncIterator[bytes]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
