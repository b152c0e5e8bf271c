"""Step 2 of a reply: the model, called once per step, stream or not.

A step is one provider call (`ChatService.complete` / `open_events`); its events are decoded
once (`providers.sse`) into a `StepState` and written for the client by a `StreamShape`
(`respond.py`). When the model asks for tools of the reply's
`ToolRunner`, they run, their results go back to the model, and the next step starts, up to
`max_steps` model calls. A streamed reply reaches the client as the upstream's own bytes;
what ends it (the finish and usage chunks, `[DONE]`, or the error event) is held back until
the reply is stored (`ReplyStore.finish`), so a client that saw the end reads it back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable
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
from parlay.services.replies.persist import ReplyOutcome, ReplyStore
from parlay.services.replies.respond import ChatChunks, StreamShape
from parlay.services.replies.tools import ToolCall, ToolResult, ToolRunner, owned_calls, tool_names

log = logging.getLogger("parlay.replies")
MAX_STEPS = 8
# A reply that stopped for these reasons is stored `incomplete`.
_INCOMPLETE_FINISH = frozenset({"length", "content_filter"})


class StepState:
    """What one model step said: text, tool calls, usage, how it ended."""

    __slots__ = ("_calls", "_parts", "done", "failed", "finish_reason", "usage")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, argument pieces]
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
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


class ReplyRun:
    """The model side of one reply. Non-streaming: `await complete()`. Streaming: `await
    open()` (upstream errors raise here, before any byte), then iterate `events()`; `aclose()`
    after a client went away stores what arrived as `incomplete`."""

    def __init__(self, chat: ChatService, user_id: str, body: dict[str, Any], *,
                 runner: ToolRunner | None = None, store: ReplyStore | None = None,
                 metadata: dict[str, Any] | None = None, max_steps: int = MAX_STEPS,
                 shape: StreamShape | None = None, request_id: str | None = None) -> None:
        self._chat = chat
        self._user_id = user_id
        self._body = body
        self._runner = runner
        self._names = tool_names(runner)
        self._store = store
        self._metadata = metadata or {}
        self._max_steps = max_steps
        self._shape = shape or ChatChunks(body["model"])
        self._request_id = request_id
        self._steps = 0
        self._usage: dict[str, int] | None = None
        self._stopped: str | None = None  # step_limit | pending_approval
        self._step = StepState()
        self._upstream: UpstreamEvents | None = None

    # -- non-streaming -------------------------------------------------------------------

    async def complete(self) -> tuple[dict[str, Any], ReplyOutcome]:
        """Every step until the model answers; the last chat.completion (usage summed over
        the steps) and what to store."""
        body: dict[str, Any] | None = self._body
        while body is not None:
            result = await self._chat.complete(self._user_id, body)
            self._step = StepState()
            self._step.feed(completion_events(result))
            self._count(self._step)
            body = await self._next_body(self._step)
        if self._steps > 1:
            result["usage"] = self._usage
        return result, self._outcome(self._step, str(result.get("model") or self._body["model"]))

    # -- streaming -----------------------------------------------------------------------

    async def open(self) -> None:
        self._upstream = await self._open_step(self._body)

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
        held: list[bytes] = []
        for event in shape.start():
            yield event
        try:
            while self._upstream is not None:
                self._step, held = StepState(), []
                async for raw in self._upstream:
                    found = parse_event(raw)
                    self._step.feed(found)
                    if self._store is not None and self._store.checkpoint_due():
                        self._store.checkpoint(self._step.text)
                    if self._holds(found):
                        held += shape.event(raw, found)
                    else:
                        for event in shape.event(raw, found):
                            yield event
                self._step.done = self._upstream.done
                self._step.usage = self._upstream.usage or self._step.usage
                self._count(self._step)
                body = await self._next_body(self._step)
                self._upstream = await self._open_step(body) if body is not None else None
            outcome = self._outcome(self._step, self._body["model"])
            await self._store_outcome(outcome)  # stored before the client sees the end
            summed = self._usage if self._steps > 1 and wants_usage(self._body) else None
            held += shape.end(outcome, summed)
        except Exception as exc:
            try:
                await self._finish(failed=True)
            except Exception:  # the database is down: the sweeper repairs the reply later
                log.exception("storing a failed reply failed request_id=%s", self._request_id)
            held = shape.error(exc, self._request_id)
        for event in held:
            yield event

    def _holds(self, events: list[ModelEvent]) -> bool:
        """Held back: what ends a reply (until it is stored), and calls to Parlay's tools
        (dropped when the tools run: the client sees their answer instead)."""
        for event in events:
            if isinstance(event, ToolCallDelta) and self._names:
                return True
            if self._store is not None and isinstance(event, Finish | UsageReport):
                return True
        return False

    async def _open_step(self, body: dict[str, Any]) -> UpstreamEvents:
        # With tools, each step's own usage chunk is dropped: one summed chunk ends the reply.
        keep_usage_chunk = wants_usage(self._body) and not self._names
        return await self._chat.open_events(self._user_id, body,
                                            keep_usage_chunk=keep_usage_chunk)

    async def _finish(self, *, failed: bool) -> None:
        await self._store_outcome(self._outcome(self._step, self._body["model"], failed=failed))

    async def _store_outcome(self, outcome: ReplyOutcome) -> None:
        if self._store is not None and not self._store.finished:
            await self._store.finish(outcome)

    # -- the tool loop -------------------------------------------------------------------

    async def _next_body(self, step: StepState) -> dict[str, Any] | None:
        """After a model step: None when the reply is over; else the tools ran (and were
        recorded) and this is the next step's request."""
        calls = step.tool_calls()
        if self._runner is None or not owned_calls(calls, self._names):
            return None
        if self._steps >= self._max_steps:
            self._stopped = "step_limit"
            return None
        results = [await self._runner.run(call) for call in calls]
        if self._store is not None:
            await self._store.tool_step(step.text, calls, results)
        if any(result.status == "pending_approval" for result in results):
            self._stopped = "pending_approval"
            return None
        self._body = {**self._body, "messages": [
            *self._body["messages"], _assistant_message(step.text, calls),
            *(_tool_message(result) for result in results)]}
        return self._body

    def _count(self, step: StepState) -> None:
        self._steps += 1
        if step.usage is not None:
            total = self._usage or {}
            for key, value in step.usage.items():
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
            self._usage = total

    def _outcome(self, step: StepState, model: str, *, failed: bool = False) -> ReplyOutcome:
        complete = (step.done and not (failed or step.failed) and self._stopped is None
                    and step.finish_reason not in _INCOMPLETE_FINISH)
        metadata = dict(self._metadata)
        if self._stopped is not None:
            metadata["stopped"] = self._stopped
        return ReplyOutcome(text=step.text, status="completed" if complete else "incomplete",
                            model=model, usage=self._usage if self._steps > 1 else step.usage,
                            metadata=metadata or None)


def _assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    return {"role": "assistant", "content": text or None, "tool_calls": [
        {"id": call.id, "type": "function",
         "function": {"name": call.name, "arguments": call.arguments}} for call in calls]}


def _tool_message(result: ToolResult) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": result.call_id, "content": result.output}
