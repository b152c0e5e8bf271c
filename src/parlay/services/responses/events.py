"""One response as it is produced: the reply pipeline's run tells this shape what happens
(`StreamShape`: model events, step ends, server-side tool calls and results, the end); it
keeps the output items in order and writes the Responses API's stream events, each with its
sequence number. `settle()` decides the final status (before it is stored; the terminal
event goes out after).

Status rules: an upstream failure before any output is `failed` with `error` (never a made-up
answer); a failure or a client disconnect after some output keeps that output as
`incomplete`; finish_reason `length` / `content_filter` are `incomplete` with OpenAI's reason;
the tool loop's limits (`step_limit`, `tool_timeout`) are `incomplete` with `reason: null`
and Parlay's `cause` (none of OpenAI's reasons fits); a call waiting for the user's approval
ends the response `completed` with its `mcp_approval_request` (as OpenAI does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from parlay.db.base import new_id
from parlay.errors import ApiError, UpstreamError
from parlay.providers.sse import Finish, ModelEvent, TextDelta, ToolCallDelta
from parlay.services.replies import ReplyOutcome, ToolCall, ToolResult
from parlay.services.responses.items import (
    ClientCall,
    HostedCall,
    OutputItem,
    Static,
    TextMessage,
    text_part,
)
from parlay.services.responses.tools import Hosted, HostedTools

# finish_reason -> OpenAI's incomplete_details.reason
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
_STOPS = {"step_limit": "the model was still calling tools after the last of its model "
                        "steps (8)",
          "tool_timeout": "a tool call ran past its time limit"}


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


class ResponseShape:
    def __init__(self, head: ResponseHead, hosted: HostedTools | None = None, *,
                 stream: bool) -> None:
        self.head = head
        self.status = "in_progress"
        self.usage: dict[str, Any] | None = None
        self.chat_usage: dict[str, Any] | None = None  # the upstream's own (chat) usage
        self.error_info: dict[str, Any] | None = None
        self.incomplete_details: dict[str, Any] | None = None
        self.completed_at: float | None = None
        self.model = head.model
        self._hosted = hosted or HostedTools()
        self._stream = stream
        self._items: list[OutputItem] = []
        self._message: TextMessage | None = None  # the message taking text now
        self._step_calls: dict[int, ClientCall | None] = {}  # None: a hosted tool's call
        self._step_finish: str | None = None
        self._running: dict[str, HostedCall] = {}  # by the model's call id
        self._sequence = 0

    # -- StreamShape ---------------------------------------------------------------------

    def start(self) -> list[bytes]:
        if not self._stream:
            self._items += [Static(listing) for listing in self._hosted.listings]
            return []
        events = [self._event("response.created", response=self.render()),
                  self._event("response.in_progress", response=self.render())]
        for listing in self._hosted.listings:
            item = Static(listing)
            events += self._added(item)
            events.append(self._item_event("response.mcp_list_tools.in_progress", item))
            events.append(self._item_event("response.mcp_list_tools.completed", item))
            events += self._done(item)
        return self._sent(events)

    def event(self, raw: bytes, found: list[ModelEvent]) -> list[bytes]:
        events: list[bytes] = []
        for event in found:
            if isinstance(event, TextDelta):
                events += self._text(event.text)
            elif isinstance(event, ToolCallDelta):
                events += self._call_delta(event)
            elif isinstance(event, Finish):
                self._step_finish = event.reason
                self.model = event.model or self.model
        return self._sent(events)

    def step_done(self, calls: list[ToolCall], served: bool) -> list[bytes]:
        """The step's text and the client's calls are complete: closed now."""
        status = "incomplete" if self._step_finish in _INCOMPLETE_REASONS else "completed"
        events: list[bytes] = []
        for item in self._items:
            if isinstance(item, TextMessage | ClientCall) and not item.done:
                events += self._closing(item, status)
        self._message, self._step_calls, self._step_finish = None, {}, None
        return self._sent(events)

    def tool_call(self, call: ToolCall, item_id: str | None) -> list[bytes]:
        hosted = self._hosted.tools.get(call.name)
        decision = self._hosted.decisions.get(call.id)
        if hosted is None or (decision is not None and not decision.approve):
            return []  # not offered, or rejected: the model reads why; no item
        if hosted.kind == "mcp" and hosted.approval and decision is None:
            return []  # it will wait for an approval: the request for it is the item
        return self._sent(self._start_call(call, hosted))

    def tool_result(self, call: ToolCall, result: ToolResult,
                    item_id: str | None) -> list[bytes]:
        hosted = self._hosted.tools.get(call.name)
        decision = self._hosted.decisions.get(call.id)
        if hosted is None or (decision is not None and not decision.approve):
            return []
        events: list[bytes] = []
        item = self._running.pop(call.id, None)
        if result.status == "pending_approval":
            if item is not None:  # the admin's rules paused it
                item.status = "incomplete"
                events += self._done(item)
            request = Static({"id": result.approval_id, "type": "mcp_approval_request",
                              "server_label": hosted.server_label, "name": call.name,
                              "arguments": call.arguments})
            return self._sent([*events, *self._added(request), *self._done(request)])
        if item is None:
            events += self._start_call(call, hosted)
            item = self._running.pop(call.id)
        item.finish(result)
        events.append(self._item_event(item.finished_event(), item))
        return self._sent([*events, *self._done(item)])

    def end(self, outcome: ReplyOutcome) -> list[bytes]:
        self.settle(outcome)
        return self._sent(self._ending())

    def error(self, exc: Exception, request_id: str | None) -> list[bytes]:
        if self.status == "in_progress":  # storing failed too: settle here
            self.settle(ReplyOutcome("", "incomplete", self.model, None, failure=exc))
        return self._sent(self._ending())

    # -- the final state -----------------------------------------------------------------

    def settle(self, outcome: ReplyOutcome) -> None:
        """Decide the status (once): from the run's outcome and what was produced."""
        if self.status != "in_progress":
            return
        self.chat_usage = outcome.usage
        self.usage = _response_usage(outcome.usage)
        self.completed_at = time.time()
        failure = outcome.failure
        if failure is not None and not self._produced():
            self.status, self.completed_at = "failed", None
            self.error_info = response_error(_api_error(failure))
        elif failure is not None:
            self._incomplete(None, "upstream_cut", _api_error(failure).message)
        elif outcome.stopped == "pending_approval":
            self.status = "completed"
        elif outcome.stopped is not None:
            self._incomplete(None, outcome.stopped, _STOPS.get(outcome.stopped))
        elif outcome.status == "completed":
            self.status = "completed"
        elif outcome.finish_reason in _INCOMPLETE_REASONS:
            self._incomplete(_INCOMPLETE_REASONS[outcome.finish_reason],
                             outcome.finish_reason, None)
        else:
            self._incomplete(None, "client_disconnected",
                             "the client went away before the response was complete")

    def _incomplete(self, reason: str | None, cause: str, message: str | None) -> None:
        self.status, self.completed_at = "incomplete", None
        self.incomplete_details = {"reason": reason, "cause": cause}
        if message:
            self.incomplete_details["message"] = message

    def _produced(self) -> bool:
        return any(not isinstance(item, TextMessage) or item.parts for item in self._items
                   if not isinstance(item, Static) or item.data["type"] != "mcp_list_tools")

    def _ending(self) -> list[bytes]:
        status = "completed" if self.status == "completed" else "incomplete"
        events: list[bytes] = []
        if self.status == "completed" and not self._items:  # an empty answer is an answer
            events += self._open_message()
        for item in self._items:
            if not item.done:
                events += self._closing(item, status)
        if self._stream:
            events.append(self._event(f"response.{self.status}", response=self.render()))
        return events

    # -- items ---------------------------------------------------------------------------

    def _text(self, text: str) -> list[bytes]:
        events = self._open_message() if self._message is None else []
        assert self._message is not None
        self._message.parts.append(text)
        events.append(self._item_event("response.output_text.delta", self._message,
                                       content_index=0, delta=text, logprobs=[]))
        return events

    def _open_message(self) -> list[bytes]:
        self._message = TextMessage(new_id("msg"))
        events = self._added(self._message)
        events.append(self._item_event("response.content_part.added", self._message,
                                       content_index=0, part=text_part("")))
        return events

    def _call_delta(self, delta: ToolCallDelta) -> list[bytes]:
        if delta.index not in self._step_calls:
            if delta.name in self._hosted.tools:
                self._step_calls[delta.index] = None  # the run reports it once it is whole
                return []
            self._message = None  # text after the calls starts a new message
            call = ClientCall(new_id("fc"), delta.id or new_id("call"), delta.name or "")
            self._step_calls[delta.index] = call
            events = self._added(call)
        else:
            events = []
        call = self._step_calls[delta.index]
        if call is not None and delta.arguments:
            call.arguments.append(delta.arguments)
            events.append(self._item_event("response.function_call_arguments.delta", call,
                                           delta=delta.arguments))
        return events

    def _start_call(self, call: ToolCall, hosted: Hosted) -> list[bytes]:
        self._message = None
        decision = self._hosted.decisions.get(call.id)
        item = HostedCall(hosted, call, decision.approval_id if decision else None)
        self._running[call.id] = item
        events = self._added(item)
        events += [self._item_event(kind, item, **fields) for kind, fields in item.progress()]
        return events

    def _closing(self, item: OutputItem, status: str) -> list[bytes]:
        item.status = status if not isinstance(item, HostedCall) else "incomplete"
        if isinstance(item, TextMessage):
            part = text_part("".join(item.parts))
            return [self._item_event("response.output_text.done", item, content_index=0,
                                     text=part["text"], logprobs=[]),
                    self._item_event("response.content_part.done", item, content_index=0,
                                     part=part),
                    *self._done(item)]
        if isinstance(item, ClientCall):
            return [self._item_event("response.function_call_arguments.done", item,
                                     arguments="".join(item.arguments)), *self._done(item)]
        return self._done(item)

    def _added(self, item: OutputItem) -> list[bytes]:
        self._items.append(item)
        return [self._event("response.output_item.added", output_index=len(self._items) - 1,
                            item=item.item(in_progress=True))]

    def _done(self, item: OutputItem) -> list[bytes]:
        item.done = True
        return [self._event("response.output_item.done", output_index=self._index(item),
                            item=item.item())]

    def _index(self, item: OutputItem) -> int:
        return len(self._items) - 1 if self._items[-1] is item else self._items.index(item)

    # -- shapes --------------------------------------------------------------------------

    def output(self) -> list[dict[str, Any]]:
        if self.status == "in_progress":
            return []
        return [item.item() for item in self._items]

    def render(self) -> dict[str, Any]:
        return render_response(self.head, status=self.status, model=self.model,
                               output=self.output(), usage=self.usage, error=self.error_info,
                               incomplete_details=self.incomplete_details,
                               completed_at=self.completed_at)

    def _item_event(self, kind: str, item: OutputItem, **fields: Any) -> bytes:
        return self._event(kind, item_id=item.id, output_index=self._index(item), **fields)

    def _event(self, kind: str, **fields: Any) -> bytes:
        if not self._stream:
            return b""
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _sent(self, events: list[bytes]) -> list[bytes]:
        return events if self._stream else []


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
        "max_tool_calls": params.get("max_tool_calls"),
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


def _api_error(failure: Exception) -> ApiError:
    if isinstance(failure, ApiError):
        return failure
    return UpstreamError("the response failed inside Parlay", code="stream_error")


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
