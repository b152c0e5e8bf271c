"""OpenAI chat-completion streams on the wire: SSE framing, and the one decoder of events.

Providers frame and emit events with the helpers here; the reply pipeline decodes them into
typed events with `parse_event` (streams) or `completion_events` (non-streaming answers).
The gateway's plain relay never decodes a whole event: `usage_of` is its only look inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
_DONE_PREFIX = b"data: [DONE]"
_SEPARATORS = (b"\n\n", b"\r\n\r\n", b"\r\r")


# -- typed events ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call: the first piece of a call carries its id and name, later
    pieces more of its JSON arguments (a non-streaming answer gives each call whole)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: dict[str, Any]
    alone: bool  # the chunk carries no choices: OpenAI's final usage-only chunk


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str
    model: str | None = None  # the model the chunk (or answer) names


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """An `{"error": ...}` event: the stream is over and did not complete."""

    error: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Done:
    """`data: [DONE]`: the stream ended normally."""


ModelEvent = TextDelta | ToolCallDelta | UsageReport | Finish | StreamFailed | Done
DONE_EVENT = Done()


# -- framing -------------------------------------------------------------------------------

def is_done(event: bytes) -> bool:
    return event.startswith(_DONE_PREFIX)


def data_event(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def next_event(buffer: bytes) -> tuple[bytes | None, bytes]:
    """Split off the first whole SSE event (with its blank-line terminator), if there is one."""
    if b"\r" not in buffer:  # the common case: plain LF framing
        index = buffer.find(b"\n\n")
        if index == -1:
            return None, buffer
        return buffer[: index + 2], buffer[index + 2 :]
    found = [(i, len(sep)) for sep in _SEPARATORS if (i := buffer.find(sep)) != -1]
    if not found:
        return None, buffer
    index, length = min(found)
    return buffer[: index + length], buffer[index + length :]


# -- decoding ------------------------------------------------------------------------------

def parse_event(event: bytes) -> list[ModelEvent]:
    """Every typed event in one SSE event (choice 0 only: that is what a reply stores)."""
    found: list[ModelEvent] = []
    for line in event.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            found.append(DONE_EVENT)
            continue
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(chunk, dict):
            found += _chunk_events(chunk)
    return found


def completion_events(result: dict[str, Any]) -> list[ModelEvent]:
    """A non-streaming chat.completion as the same typed events a stream gives."""
    found: list[ModelEvent] = []
    choice = _first_choice(result.get("choices"))
    message = choice.get("message") if isinstance(choice, dict) else None
    if isinstance(message, dict):
        if isinstance(message.get("content"), str) and message["content"]:
            found.append(TextDelta(message["content"]))
        found += _tool_call_deltas(message.get("tool_calls"))
    if isinstance(result.get("usage"), dict):
        found.append(UsageReport(result["usage"], alone=False))
    if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
        found.append(Finish(choice["finish_reason"], _model_of(result)))
    found.append(DONE_EVENT)
    return found


def usage_of(event: bytes) -> tuple[dict[str, Any], bool] | None:
    """(usage, chunk has no choices) for an event carrying a usage object, else None.
    Cheap for the events without one: callers test `b'"usage"' in event` first."""
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


def _chunk_events(chunk: dict[str, Any]) -> list[ModelEvent]:
    if "error" in chunk:
        error = chunk["error"]
        return [StreamFailed(error if isinstance(error, dict) else {"message": str(error)})]
    found: list[ModelEvent] = []
    choice = _first_choice(chunk.get("choices"))
    if isinstance(choice, dict):
        delta = choice.get("delta")
        if isinstance(delta, dict):
            if isinstance(delta.get("content"), str) and delta["content"]:
                found.append(TextDelta(delta["content"]))
            found += _tool_call_deltas(delta.get("tool_calls"))
        if isinstance(choice.get("finish_reason"), str):
            found.append(Finish(choice["finish_reason"], _model_of(chunk)))
    if isinstance(chunk.get("usage"), dict):
        found.append(UsageReport(chunk["usage"], alone=not chunk.get("choices")))
    return found


def _model_of(payload: dict[str, Any]) -> str | None:
    return payload["model"] if isinstance(payload.get("model"), str) else None


def _first_choice(choices: Any) -> dict[str, Any] | None:
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None


def _tool_call_deltas(calls: Any) -> list[ModelEvent]:
    found: list[ModelEvent] = []
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        index = call.get("index", position)
        arguments = function.get("arguments")
        found.append(ToolCallDelta(
            index=index if isinstance(index, int) else position,
            id=call["id"] if isinstance(call.get("id"), str) else None,
            name=function["name"] if isinstance(function.get("name"), str) else None,
            arguments=arguments if isinstance(arguments, str) else ""))
    return found
