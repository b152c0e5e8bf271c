"""Step 2 of a reply: the model, called once per step, stream or not, and the tool loop.

A step is one provider call (`ChatService.complete` / `open_events`); its events are decoded
once (`providers.sse`) into a `StepState` and told to a `StreamShape` (`respond.py`), which
writes them for the client. When the model calls tools of the reply's `ToolRunner` (every
call that is not to one of the client's own functions), they run one after another, each
recorded (`ReplySink`) and told to the shape before and after it runs; their results go back
to the model and the next step starts, up to `max_steps` model calls. A result that needs
the user's approval, or a tool that ran out of time, stops the reply there (`incomplete`,
`metadata.stopped`). A streamed reply's end is sent only once it is stored
(`ReplySink.finish`), so a client that saw the end reads it back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from parlay.providers.sse import (
    Done,
    Finish,
    ModelEvent,
    StreamFailed,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    completion_events,
    parse_event,
)
from parlay.services.chat import ChatService, UpstreamEvents, wants_usage
from parlay.services.replies.persist import ReplyOutcome, ReplySink
from parlay.services.replies.respond import ChatChunks, StreamShape
from parlay.services.replies.tools import (
    ToolCall,
    ToolResult,
    ToolRunner,
    function_names,
    served_calls,
    tool_names,
)

log = logging.getLogger("parlay.replies")
MAX_STEPS = 8
# A reply that stopped for these reasons is stored `incomplete`.
_INCOMPLETE_FINISH = frozenset({"length", "content_filter"})


class StepState:
    """What one model step said: text, tool calls, usage, how it ended."""

    __slots__ = ("_calls", "_parts", "done", "failed", "finish_reason", "model", "usage")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, argument pieces]
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.done = False
        self.failed = False

    def feed(self, events: Iterable[ModelEvent]) -> None:
        for event in events:
            if isinstance(event, TextDelta):
                self._parts.append(event.text)
            elif isinstance(event, ToolCallDelta):
                call = self._calls.setdefault(event.index, [None, None, []])
                call[0] = call[0] or event.id
                call[1] = call[1] or event.name
                call[2].append(event.arguments)
            elif isinstance(event, UsageReport):
                self.usage = event.usage
            elif isinstance(event, Finish):
                self.finish_reason = event.reason
                self.model = event.model or self.model
            elif isinstance(event, Done):
                self.done = True
            elif isinstance(event, StreamFailed):
                self.failed = True

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(id=call_id or f"call_{index}", name=name or "",
                         arguments="".join(pieces))
                for index, (call_id, name, pieces) in sorted(self._calls.items())]


@dataclass(frozen=True, slots=True)
class Resume:
    """Tool calls a reply starts with, before its first model step (calls the model made in
    an earlier response and the user approved since): they run first, as a tool round."""

    calls: Sequence[ToolCall]
    text: str = ""


class ReplyRun:
    """The model side of one reply. Non-streaming: `await complete()`. Streaming: `await
    open()` (upstream errors raise here, before any byte), then iterate `events()`; `aclose()`
    after a client went away stores what arrived as `incomplete`."""

    def __init__(self, chat: ChatService, user_id: str, body: dict[str, Any], *,
                 runner: ToolRunner | None = None, store: ReplySink | None = None,
                 metadata: dict[str, Any] | None = None, max_steps: int = MAX_STEPS,
                 shape: StreamShape | None = None, request_id: str | None = None,
                 resume: Resume | None = None) -> None:
        self._chat = chat
        self._user_id = user_id
        self._body = body
        self._runner = runner
        # Calls to these end the reply: they are the client's; the runner answers the others.
        self._client_names = function_names(body.get("tools")) - tool_names(runner)
        self._store = store
        self._metadata = metadata or {}
        self._max_steps = max_steps
        self._shape = shape or ChatChunks(body["model"], tools=runner is not None,
                                          usage=wants_usage(body))
        self._request_id = request_id
        self._resume = resume
        self._steps = 0
        self._rounds = 0
        self._failure: Exception | None = None  # the first step could not start
        self._usage: dict[str, int] | None = None
        self._stopped: str | None = None  # step_limit | pending_approval | tool_timeout
        self._approvals: list[dict[str, Any]] = []
        self._step = StepState()
        self._next: dict[str, Any] | None = None  # the next model step's request
        self._opening: list[bytes] = []
        self._upstream: UpstreamEvents | None = None

    @property
    def shape(self) -> StreamShape:
        return self._shape

    @property
    def started(self) -> bool:
        """A model step or a tool round ran: a failure now ends the reply, not the request."""
        return self._steps > 0 or self._rounds > 0

    def fail(self, failure: Exception) -> ReplyOutcome:
        """The model could not be called (`open()` or `complete()` raised it): the outcome
        that says so; a stream then ends with it, after its events so far."""
        self._failure = failure
        return self._outcome(self._step, self._body["model"], failed=True, failure=failure)

    # -- non-streaming -------------------------------------------------------------------

    async def complete(self) -> tuple[dict[str, Any], ReplyOutcome]:
        """Every step until the model answers; the last chat.completion and what to store
        (usage summed over the steps)."""
        self._shape.start()
        result: dict[str, Any] = {}
        body = await self._first_body(collect=None)
        while body is not None:
            result = await self._chat.complete(self._user_id, body)
            self._step = StepState()
            found = completion_events(result)
            self._step.feed(found)
            self._shape.event(b"", found)
            self._count(self._step)
            async for _ in self._after_step(self._step):
                pass
            body = self._next
        model = str(result.get("model") or self._body["model"])
        return result, self._outcome(self._step, model)

    # -- streaming -----------------------------------------------------------------------

    async def open(self) -> None:
        self._opening = list(self._shape.start())
        body = await self._first_body(collect=self._opening)
        self._upstream = await self._open_step(body) if body is not None else None

    def events(self) -> AsyncGenerator[bytes, None]:
        """The client's events; after them (or if the client went away), `aclose()`."""
        return self._events()

    async def aclose(self) -> None:
        """Close the upstream (cancels it) and store what arrived as `incomplete`, unless the
        reply was stored already (or never opened)."""
        if self._upstream is not None:
            await self._upstream.aclose()
        if self._store is not None and self._store.opened:
            await self._finish(failed=True)

    async def _events(self) -> AsyncGenerator[bytes, None]:
        shape = self._shape
        for event in self._opening:
            yield event
        try:
            if self._failure is not None:
                raise self._failure
            while self._upstream is not None:
                self._step = step = StepState()
                async for raw in self._upstream:
                    found = parse_event(raw)
                    step.feed(found)
                    if self._store is not None and self._store.checkpoint_due():
                        self._store.checkpoint(step.text)
                    for event in shape.event(raw, found):
                        yield event
                step.done = self._upstream.done
                step.usage = self._upstream.usage or step.usage
                self._count(step)
                async for event in self._after_step(step):
                    yield event
                self._upstream = (await self._open_step(self._next)
                                  if self._next is not None else None)
            outcome = self._outcome(self._step, self._body["model"])
            await self._store_outcome(outcome)  # stored before the client sees the end
            tail = shape.end(outcome)
        except Exception as exc:
            try:
                await self._finish(failed=True, failure=exc)
            except Exception:  # the database is down: the sweeper repairs the reply later
                log.exception("storing a failed reply failed request_id=%s", self._request_id)
            tail = shape.error(exc, self._request_id)
        for event in tail:
            yield event

    async def _open_step(self, body: dict[str, Any]) -> UpstreamEvents:
        # With tools, each step's own usage chunk is dropped: the shape sums them at the end.
        keep_usage_chunk = wants_usage(self._body) and self._runner is None
        return await self._chat.open_events(self._user_id, body,
                                            keep_usage_chunk=keep_usage_chunk)

    async def _finish(self, *, failed: bool, failure: Exception | None = None) -> None:
        outcome = self._outcome(self._step, self._body["model"], failed=failed,
                                failure=failure)
        await self._store_outcome(outcome)

    async def _store_outcome(self, outcome: ReplyOutcome) -> None:
        if self._store is not None and not self._store.finished:
            await self._store.finish(outcome)

    # -- the tool loop -------------------------------------------------------------------

    async def _first_body(self, collect: list[bytes] | None) -> dict[str, Any] | None:
        """The first model step's request, after the resumed calls (if any) ran."""
        if self._resume is None or self._runner is None or not self._resume.calls:
            return self._body
        async for event in self._tool_round(self._resume.text, list(self._resume.calls)):
            if collect is not None:
                collect.append(event)
        return self._next

    async def _after_step(self, step: StepState) -> AsyncGenerator[bytes, None]:
        """After a model step: the tools it called run (and are recorded), and `_next` is the
        next step's request; None when the reply is over."""
        self._next = None
        calls = step.tool_calls()
        served = self._runner is not None and served_calls(calls, self._client_names)
        shown = calls if served or self._runner is None else \
            [call for call in calls if call.name in self._client_names]
        for event in self._shape.step_done(shown, served):
            yield event
        if not served:
            return
        if self._steps >= self._max_steps:
            self._stopped = "step_limit"
            return
        async for event in self._tool_round(step.text, calls):
            yield event

    async def _tool_round(self, text: str, calls: list[ToolCall]
                          ) -> AsyncGenerator[bytes, None]:
        assert self._runner is not None
        self._rounds += 1
        ids: list[str | None] = [None] * len(calls)
        if self._store is not None:
            ids = await self._store.tool_calls(text, calls)
        for call, item_id in zip(calls, ids, strict=True):
            for event in self._shape.tool_call(call, item_id):
                yield event
        results: list[ToolResult] = []
        for call in calls:
            result = await self._runner.run(call)
            results.append(result)
            result_id = await self._store.tool_result(result) if self._store else None
            if result.approval_id is not None:
                self._approvals.append({"approval_id": result.approval_id,
                                        "call_id": call.id, "item_id": result_id})
            for event in self._shape.tool_result(call, result, result_id):
                yield event
        self._stopped = next((r.stops for r in results if r.stops), None)
        if self._stopped is None:
            self._body = {**self._body, "messages": [
                *self._body["messages"], _assistant_message(text, calls),
                *(_tool_message(result) for result in results)]}
            self._next = self._body

    def _count(self, step: StepState) -> None:
        self._steps += 1
        if step.usage is not None:
            total = self._usage or {}
            for key, value in step.usage.items():
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
            self._usage = total

    def _outcome(self, step: StepState, model: str, *, failed: bool = False,
                 failure: Exception | None = None) -> ReplyOutcome:
        complete = (step.done and not (failed or step.failed) and self._stopped is None
                    and step.finish_reason not in _INCOMPLETE_FINISH)
        metadata = dict(self._metadata)
        if self._stopped is not None:
            metadata["stopped"] = self._stopped
        if self._approvals:
            metadata["approvals"] = self._approvals
        return ReplyOutcome(text=step.text, status="completed" if complete else "incomplete",
                            model=model, usage=self._usage if self._steps > 1 else step.usage,
                            metadata=metadata or None, finish_reason=step.finish_reason,
                            stopped=self._stopped, failure=failure)


def _assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {"role": "assistant", "content": text or None, "tool_calls": [
        {"id": call.id, "type": "function",
         "function": {"name": call.name, "arguments": call.arguments}} for call in calls]}


def _tool_message(result: ToolResult) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": result.call_id, "content": result.output}
