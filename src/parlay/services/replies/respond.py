"""Step 4 of a reply: the shape its events take for the client.

`ReplyRun` tells a `StreamShape` what happens, in order: the model's events as they come
(`event`), the end of each model step (`step_done`), each server-side tool call before it runs
and its result after (`tool_call`, `tool_result`), then the end, once the reply is stored
(`end`), or a failure (`error`). The shape says what the client sees of each, and holds back
what must wait. Chat completions (and conversation items) use `ChatChunks`; the Responses API
writes its `response.*` events from the same calls (`services/responses/events.py`).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import orjson

from parlay.providers.sse import (
    DONE,
    Finish,
    ModelEvent,
    ToolCallDelta,
    UsageReport,
    data_event,
)
from parlay.services.chat import error_event
from parlay.services.replies.persist import ReplyOutcome
from parlay.services.replies.tools import ToolCall, ToolResult

# finish_reason of a chat completion that Parlay's tool loop stopped (`parlay_stopped` says why)
STOPPED_FINISH_REASON = "length"


class StreamShape(Protocol):
    def start(self) -> list[bytes]:
        """Events before the model's first (after the reply was stored in_progress)."""
        ...

    def event(self, raw: bytes, found: list[ModelEvent]) -> list[bytes]:
        """The client's events for one upstream event (`raw`, decoded as `found`; `raw` is
        empty for a non-streamed answer)."""
        ...

    def step_done(self, calls: list[ToolCall], served: bool) -> list[bytes]:
        """A model step ended with these tool calls; `served`: the server runs them (else they
        are the client's to run, and the reply ends)."""
        ...

    def tool_call(self, call: ToolCall, item_id: str | None) -> list[bytes]:
        """A server-side call is about to run (`item_id`: its stored item, if any)."""
        ...

    def tool_result(self, call: ToolCall, result: ToolResult,
                    item_id: str | None) -> list[bytes]:
        """A server-side call ended."""
        ...

    def end(self, outcome: ReplyOutcome) -> list[bytes]:
        """The last events of a reply that ended (stored already)."""
        ...

    def error(self, exc: Exception, request_id: str | None) -> list[bytes]:
        """The last events of a reply that failed after its stream started."""
        ...


def call_item(call: ToolCall, item_id: str | None) -> dict[str, Any]:
    """A server-side call as the conversation item it is stored as."""
    return {"id": item_id, "type": "function_call", "call_id": call.id, "name": call.name,
            "arguments": call.arguments}


def result_item(result: ToolResult, item_id: str | None) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call_output", "call_id": result.call_id,
            "output": result.output, "status": result.status,
            "error_code": result.error_code, "approval_id": result.approval_id}


class ChatChunks:
    """OpenAI's chat.completion.chunk stream: the upstream's bytes, then `[DONE]`. What ends a
    step (its finish and usage chunks) is held until the reply is stored.

    With server-side tools (`tools=True`) the client never sees calls to them as tool calls
    (it would try to run them): tool-call deltas are taken out of the chunks, calls to the
    client's own functions come whole at the end of their step, and Parlay's calls and
    results are chunks with an empty delta and a `parlay_item` (the stored item's shape).
    A reply that the loop stopped ends with finish_reason "length" and `parlay_stopped`; a
    usage chunk (if asked for) sums every model step. `completion()` does the same to a
    non-streamed answer (`parlay_items` lists the tool items)."""

    def __init__(self, model: str, *, tools: bool = False, usage: bool = False) -> None:
        self._model = model
        self._tools = tools
        self._usage = usage
        self._held: list[bytes] = []
        self._base: dict[str, Any] | None = None  # id and created of the upstream's chunks
        self._client_calls: list[ToolCall] = []
        self.items: list[dict[str, Any]] = []  # the tool items, in order

    def start(self) -> list[bytes]:
        return []

    def event(self, raw: bytes, found: list[ModelEvent]) -> list[bytes]:
        if not raw:
            return []
        if self._tools:
            if self._base is None:
                self._base = _chunk_base(raw)
            if any(isinstance(event, ToolCallDelta) for event in found):
                stripped = _without_tool_calls(raw)
                if stripped is None:
                    return []
                raw = stripped
        if any(isinstance(event, Finish | UsageReport) for event in found):
            self._held.append(raw)
            return []
        return [raw]

    def step_done(self, calls: list[ToolCall], served: bool) -> list[bytes]:
        if served:  # the step's finish ("tool_calls") is not the reply's
            self._held.clear()
        elif self._tools and calls:
            self._client_calls = calls
            self._held.insert(0, self._chunk({"tool_calls": [
                {"index": index, "id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": call.arguments}}
                for index, call in enumerate(calls)]}))
        return []

    def tool_call(self, call: ToolCall, item_id: str | None) -> list[bytes]:
        return self._item(call_item(call, item_id))

    def tool_result(self, call: ToolCall, result: ToolResult,
                    item_id: str | None) -> list[bytes]:
        return self._item(result_item(result, item_id))

    def end(self, outcome: ReplyOutcome) -> list[bytes]:
        events, self._held = self._held, []
        if outcome.stopped is not None:
            events.append(self._chunk({}, STOPPED_FINISH_REASON, parlay_stopped=outcome.stopped))
        if self._tools and self._usage and outcome.usage is not None:
            events.append(data_event({**self._head(), "choices": [], "usage": outcome.usage}))
        return [*events, DONE]

    def error(self, exc: Exception, request_id: str | None) -> list[bytes]:
        return [error_event(exc, request_id)]

    def completion(self, result: dict[str, Any], outcome: ReplyOutcome) -> dict[str, Any]:
        """A non-streamed answer: the last step's chat.completion, its usage summed over the
        steps, without calls to Parlay's tools."""
        if not self._tools:
            return result
        result["usage"] = outcome.usage
        choices = result.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and message.get("tool_calls"):
            own = {call.id for call in self._client_calls}
            kept = [c for c in message["tool_calls"] if isinstance(c, dict) and c.get("id") in own]
            if kept:
                message["tool_calls"] = kept
            else:
                message.pop("tool_calls")
        if outcome.stopped is not None and isinstance(choice, dict):
            choice["finish_reason"] = STOPPED_FINISH_REASON
            result["parlay_stopped"] = outcome.stopped
        if self.items:
            result["parlay_items"] = self.items
        return result

    # -- chunks of Parlay's own ------------------------------------------------------------

    def _item(self, item: dict[str, Any]) -> list[bytes]:
        self.items.append(item)
        return [self._chunk({}, parlay_item=item)]

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None,
               **extra: Any) -> bytes:
        return data_event({**self._head(), "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra})

    def _head(self) -> dict[str, Any]:
        base = self._base or {}
        return {"id": base.get("id") or "chatcmpl-parlay", "object": "chat.completion.chunk",
                "created": base.get("created") or int(time.time()), "model": self._model}


def _chunk_base(raw: bytes) -> dict[str, Any] | None:
    chunk = _chunk_of(raw)
    if chunk is None:
        return None
    return {"id": chunk.get("id"), "created": chunk.get("created")}


def _chunk_of(raw: bytes) -> dict[str, Any] | None:
    payload = raw.partition(b"data:")[2].strip()
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return chunk if isinstance(chunk, dict) else None


def _without_tool_calls(raw: bytes) -> bytes | None:
    """The chunk without its tool-call deltas (None: nothing is left worth sending)."""
    chunk = _chunk_of(raw)
    if chunk is None:
        return None
    keep = bool(chunk.get("usage"))
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict):
            delta.pop("tool_calls", None)
            keep = keep or any(value is not None for value in delta.values())
        keep = keep or (isinstance(choice, dict) and choice.get("finish_reason") is not None)
    return data_event(chunk) if keep else None
