"""One model step: send messages (and tool definitions) to the model, get typed events back.

This is the single seam between the Responses API and "how a model is called". Today it runs
over ChatService (routing, fallbacks, usage accounting, token budgets, stream relay); it is
meant to become the reply pipeline's run step (and its tool loop) without the rest of
services.responses changing: whatever implements `ModelStep.start` must

  * raise `ApiError` from `start()` for refusals and failures before the first event
    (unknown model, budget, upstream 4xx, upstream down: `UpstreamError`);
  * then yield `TextDelta`, `ToolCallDelta` and finally one `StepDone`;
  * raise `ApiError` from `__anext__` when the upstream breaks off midway;
  * cancel the upstream at once on `aclose()` (idempotent).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from parlay.errors import ApiError, UpstreamError
from parlay.providers import sse
from parlay.providers.sse import completion_events
from parlay.services.chat import ChatService


@dataclass(frozen=True, slots=True)
class StepCall:
    user_id: str            # whose usage and budgets the call counts against
    model: str
    messages: list[dict[str, Any]]
    # Chat-completions tool definitions and options (tool_choice, temperature, max_tokens, ...)
    tools: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int              # which call of this step (calls may arrive in parallel)
    call_id: str | None     # set on a call's first delta
    name: str | None        # set on a call's first delta
    arguments: str          # a piece of the JSON arguments


@dataclass(frozen=True, slots=True)
class StepDone:
    finish_reason: str | None   # stop | length | tool_calls | content_filter | None
    usage: dict[str, Any] | None  # the upstream's chat usage object
    model: str | None


StepEvent = TextDelta | ToolCallDelta | StepDone


class StepEvents(Protocol):
    def __aiter__(self) -> AsyncIterator[StepEvent]: ...
    async def __anext__(self) -> StepEvent: ...
    async def aclose(self) -> None: ...


class ModelStep(Protocol):
    async def start(self, call: StepCall) -> StepEvents: ...


class ChatModelStep:
    """ModelStep over ChatService (the gateway): the user's usage and budgets apply."""

    def __init__(self, chat: ChatService, request_id: str | None) -> None:
        self._chat = chat
        self._request_id = request_id

    async def start(self, call: StepCall) -> StepEvents:
        body: dict[str, Any] = {"model": call.model, "messages": call.messages,
                                **call.options}
        if call.tools:
            body["tools"] = call.tools
        if not call.stream:
            return _Replay(_events_of_completion(await self._chat.complete(call.user_id,
                                                                           body)))
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        relay = await self._chat.open_stream(call.user_id, body, request_id=self._request_id)
        return _ChunkEvents(relay)


def _events_of_completion(result: dict[str, Any]) -> list[StepEvent]:
    decoded = _Decoded()
    return decoded.note(completion_events(result))


class _Replay:
    """The events of an answer that is already complete (non-streaming call)."""

    def __init__(self, events: list[StepEvent]) -> None:
        self._events = deque(events)

    def __aiter__(self) -> _Replay:
        return self

    async def __anext__(self) -> StepEvent:
        if not self._events:
            raise StopAsyncIteration
        return self._events.popleft()

    async def aclose(self) -> None:
        self._events.clear()


class _Decoded:
    """The wire's typed events (providers.sse) as step events."""

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.ended = False

    def note(self, found: list[sse.ModelEvent]) -> list[StepEvent]:
        events: list[StepEvent] = []
        for event in found:
            if isinstance(event, sse.TextDelta):
                events.append(TextDelta(event.text))
            elif isinstance(event, sse.ToolCallDelta):
                events.append(ToolCallDelta(event.index, event.id, event.name,
                                            event.arguments))
            elif isinstance(event, sse.UsageReport):
                self.usage = event.usage
            elif isinstance(event, sse.Finish):
                self.finish_reason, self.model = event.reason, event.model or self.model
            elif isinstance(event, sse.StreamFailed):
                raise _error_of(event.error)
            elif isinstance(event, sse.Done):
                self.ended = True
                events.append(StepDone(self.finish_reason, self.usage, self.model))
        return events


class _ChunkEvents:
    """chat.completion.chunk events (as relayed by ChatService) as step events. A class, not
    a generator: closing it closes the upstream even after a cancellation."""

    def __init__(self, relay: Any) -> None:
        self._relay = relay
        self._pending: deque[StepEvent] = deque()
        self._decoded = _Decoded()

    def __aiter__(self) -> _ChunkEvents:
        return self

    async def __anext__(self) -> StepEvent:
        while not self._pending:
            if self._decoded.ended:
                raise StopAsyncIteration
            try:
                event = await anext(self._relay)
            except StopAsyncIteration:
                raise UpstreamError("the upstream stream ended before [DONE]",
                                    code="stream_error") from None
            self._pending.extend(self._decoded.note(sse.parse_event(event)))
        return self._pending.popleft()

    async def aclose(self) -> None:
        self._decoded.ended = True
        self._pending.clear()
        await self._relay.aclose()


def _error_of(error: dict[str, Any]) -> ApiError:
    """The error event ChatService ends a broken stream with, as the ApiError it was."""
    failure = UpstreamError(str(error.get("message") or "the upstream failed"),
                            code=str(error.get("code") or "stream_error"))
    failure.type = str(error.get("type") or failure.type)
    return failure
