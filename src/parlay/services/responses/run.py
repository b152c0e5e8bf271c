"""One response as it is produced: model step events in, output items and the Responses
API's stream events (each with its sequence number) out, and the final status.

Status rules: an upstream failure before any output is `failed` with `error` (never a made-up
answer); a failure or a client disconnect after some output keeps that output as
`incomplete`; finish_reason `length` / `content_filter` are `incomplete` with OpenAI's reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from parlay.db.base import new_id
from parlay.errors import ApiError
from parlay.services.responses.model_step import StepDone, StepEvent, TextDelta, ToolCallDelta

# finish_reason -> OpenAI's incomplete_details.reason
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """What a response echoes from its request (fixed while it runs)."""

    id: str
    created_at: float
    model: str
    instructions: str | None
    previous_response_id: str | None
    conversation_id: str | None
    params: dict[str, Any]  # tools, tool_choice, temperature, ... in the Response's shape


@dataclass(slots=True)
class _Message:
    id: str
    parts: list[str] = field(default_factory=list)

    def item(self, status: str) -> dict[str, Any]:
        content = [_text_part("".join(self.parts))] if status != "in_progress" else []
        return {"id": self.id, "type": "message", "role": "assistant", "status": status,
                "content": content}


@dataclass(slots=True)
class _FunctionCall:
    id: str
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)

    def item(self, status: str) -> dict[str, Any]:
        arguments = "".join(self.arguments) if status != "in_progress" else ""
        return {"id": self.id, "type": "function_call", "status": status,
                "call_id": self.call_id, "name": self.name, "arguments": arguments}


class ResponseRun:
    def __init__(self, head: ResponseHead, *, stream: bool) -> None:
        self.head = head
        self.status = "in_progress"
        self.usage: dict[str, Any] | None = None
        self.step_usage: dict[str, Any] | None = None  # the upstream's own (chat) usage
        self.error: dict[str, Any] | None = None
        self.incomplete_details: dict[str, Any] | None = None
        self.completed_at: float | None = None
        self.model = head.model
        self._stream = stream
        self._items: list[_Message | _FunctionCall] = []
        self._message: _Message | None = None  # the message taking text now
        self._calls: dict[int, int] = {}       # the step's call index -> output index
        self._done: StepDone | None = None
        self._failure: ApiError | None = None
        self._disconnected = False
        self._sequence = 0

    # -- while the model answers -----------------------------------------------------------

    def opening(self) -> list[bytes]:
        return [self._event("response.created", response=self.render()),
                self._event("response.in_progress", response=self.render())]

    def apply(self, event: StepEvent) -> list[bytes]:
        """Take one step event; the stream events it makes (none when not streaming)."""
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, ToolCallDelta):
            return self._tool_call(event)
        self._done = event
        self.model = event.model or self.model
        self.step_usage = event.usage
        self.usage = _response_usage(event.usage)
        return []

    def broke(self, failure: ApiError) -> None:
        self._failure = failure

    def disconnected(self) -> None:
        self._disconnected = True

    def _text(self, text: str) -> list[bytes]:
        events = self._open_message() if self._message is None else []
        assert self._message is not None
        self._message.parts.append(text)
        if self._stream:
            events.append(self._event(
                "response.output_text.delta", item_id=self._message.id,
                output_index=self._index_of(self._message), content_index=0, delta=text,
                logprobs=[]))
        return events

    def _open_message(self) -> list[bytes]:
        self._message = _Message(new_id("msg"))
        events = self._added(self._message)
        events.append(self._event(
            "response.content_part.added", item_id=self._message.id,
            output_index=len(self._items) - 1, content_index=0, part=_text_part("")))
        return events

    def _tool_call(self, delta: ToolCallDelta) -> list[bytes]:
        events: list[bytes] = []
        index = self._calls.get(delta.index)
        if index is None:
            self._message = None  # text after the calls starts a new message
            call = _FunctionCall(new_id("fc"), delta.call_id or new_id("call"),
                                 delta.name or "")
            events += self._added(call)
            index = self._calls[delta.index] = len(self._items) - 1
        call = self._items[index]
        assert isinstance(call, _FunctionCall)
        if delta.arguments:
            call.arguments.append(delta.arguments)
            if self._stream:
                events.append(self._event(
                    "response.function_call_arguments.delta", item_id=call.id,
                    output_index=index, delta=delta.arguments))
        return events

    def _added(self, item: _Message | _FunctionCall) -> list[bytes]:
        self._items.append(item)
        return [self._event("response.output_item.added", output_index=len(self._items) - 1,
                            item=item.item("in_progress"))]

    def _index_of(self, item: _Message | _FunctionCall) -> int:
        return len(self._items) - 1 if self._items[-1] is item else self._items.index(item)

    # -- the end ---------------------------------------------------------------------------

    def close(self) -> list[bytes]:
        """Decide the final status; the events that end the stream (items done, then the
        terminal response event)."""
        self._settle()
        item_status = "completed" if self.status == "completed" else "incomplete"
        events: list[bytes] = []
        if self.status == "completed" and not self._items:  # an empty answer is an answer
            events += self._open_message()
        for index, item in enumerate(self._items):
            events += self._closing(index, item, item_status)
        events.append(self._event(f"response.{self.status}", response=self.render()))
        return events

    def _settle(self) -> None:
        if self.status != "in_progress":
            return
        self.completed_at = time.time()
        if self._failure is not None and not self._produced():
            self.status = "failed"
            self.error = response_error(self._failure)
            self.completed_at = None
        elif self._failure is not None:
            self._incomplete(None, "upstream_cut", self._failure.message)
        elif self._disconnected or self._done is None:
            self._incomplete(None, "client_disconnected",
                             "the client went away before the response was complete")
        elif self._done.finish_reason in _INCOMPLETE_REASONS:
            self._incomplete(_INCOMPLETE_REASONS[self._done.finish_reason],
                             self._done.finish_reason, None)
        else:
            self.status = "completed"

    def _incomplete(self, reason: str | None, cause: str, message: str | None) -> None:
        self.status = "incomplete"
        self.completed_at = None
        self.incomplete_details = {"reason": reason, "cause": cause}
        if message:
            self.incomplete_details["message"] = message

    def _produced(self) -> bool:
        return any(not isinstance(item, _Message) or item.parts for item in self._items)

    def _closing(self, index: int, item: _Message | _FunctionCall, status: str) -> list[bytes]:
        done = item.item(status)
        if isinstance(item, _Message):
            part = done["content"][0]
            return [
                self._event("response.output_text.done", item_id=item.id, output_index=index,
                            content_index=0, text=part["text"], logprobs=[]),
                self._event("response.content_part.done", item_id=item.id,
                            output_index=index, content_index=0, part=part),
                self._event("response.output_item.done", output_index=index, item=done),
            ]
        return [
            self._event("response.function_call_arguments.done", item_id=item.id,
                        output_index=index, arguments=done["arguments"]),
            self._event("response.output_item.done", output_index=index, item=done),
        ]

    # -- shapes ----------------------------------------------------------------------------

    def output(self) -> list[dict[str, Any]]:
        if self.status == "in_progress":
            return []
        status = "completed" if self.status == "completed" else "incomplete"
        return [item.item(status) for item in self._items]

    def render(self) -> dict[str, Any]:
        return render_response(self.head, status=self.status, model=self.model,
                               output=self.output(), usage=self.usage, error=self.error,
                               incomplete_details=self.incomplete_details,
                               completed_at=self.completed_at)

    def _event(self, kind: str, **fields: Any) -> bytes:
        if not self._stream:
            return b""
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def render_response(head: ResponseHead, *, status: str, model: str,
                    output: list[dict[str, Any]], usage: dict[str, Any] | None,
                    error: dict[str, Any] | None, incomplete_details: dict[str, Any] | None,
                    completed_at: float | None) -> dict[str, Any]:
    """The Response object, as OpenAI shapes it (plus `output_text`, as its SDKs offer)."""
    params = head.params
    return {
        "id": head.id, "object": "response", "created_at": int(head.created_at),
        "status": status, "completed_at": None if completed_at is None else int(completed_at),
        "error": error, "incomplete_details": incomplete_details,
        "instructions": head.instructions, "model": model, "output": output,
        "output_text": output_text(output),
        "previous_response_id": head.previous_response_id,
        "conversation": {"id": head.conversation_id} if head.conversation_id else None,
        "usage": usage, "background": False, "truncation": "disabled",
        "tools": params.get("tools", []), "tool_choice": params.get("tool_choice", "auto"),
        "parallel_tool_calls": params.get("parallel_tool_calls", True),
        "temperature": params.get("temperature"), "top_p": params.get("top_p"),
        "max_output_tokens": params.get("max_output_tokens"),
        "metadata": params.get("metadata") or {}, "store": params.get("store", True),
        "text": params.get("text") or {"format": {"type": "text"}},
        "reasoning": params.get("reasoning"), "user": params.get("user"),
        "safety_identifier": params.get("safety_identifier"),
        "prompt_cache_key": params.get("prompt_cache_key"),
        "service_tier": params.get("service_tier"),
    }


def output_text(output: list[dict[str, Any]]) -> str:
    return "".join(part.get("text", "") for item in output if item.get("type") == "message"
                   for part in item.get("content") or () if part.get("type") == "output_text")


def response_error(failure: ApiError) -> dict[str, Any]:
    """OpenAI's error codes are a closed list: the nearest one, with Parlay's own code in
    `type` (docs/errors.md)."""
    if failure.status == 429:
        code = "rate_limit_exceeded"
    elif failure.status < 500:
        code = "invalid_prompt"
    else:
        code = "server_error"
    return {"code": code, "message": failure.message, "param": failure.param,
            "type": failure.code}


def _response_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else 0
    reasoning = (completion_details.get("reasoning_tokens")
                 if isinstance(completion_details, dict) else 0)
    return {"input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": _count(cached), "cache_write_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": _count(reasoning)},
            "total_tokens": _count(usage.get("total_tokens")) or prompt + completion}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
