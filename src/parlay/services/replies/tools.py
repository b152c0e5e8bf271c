"""The seam between the reply pipeline and server-side tools.

A `ToolRunner` is what one reply may call: the function tools it offers the model
(`definitions()`, OpenAI's `{"type": "function", "function": {...}}` objects) and how a call
is carried out (`run()`). The pipeline's run step calls the model, runs the calls the model
made to these tools, sends the results back, and calls the model again, up to the step limit.
Tool calls to any other function (the client's own `tools`) end the loop and reach the client
as OpenAI tool calls, as without Parlay. Without a runner a reply is exactly one model call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

ToolStatus = Literal["completed", "failed", "refused", "pending_approval"]
# How a tool result's status shows on its stored `function_call_output` item.
ITEM_STATUS: dict[str, str] = {"completed": "completed", "failed": "failed",
                               "refused": "failed", "pending_approval": "incomplete"}


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it (may be invalid: the runner judges)


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    output: str  # what the model reads back
    status: ToolStatus = "completed"
    # Recorded on the stored `function_call_output` item (e.g. timings, sources, who approved).
    metadata: dict[str, Any] | None = None


class ToolRunner(Protocol):
    def definitions(self) -> list[dict[str, Any]]:
        """The OpenAI function tools offered to the model for this reply."""
        ...

    async def run(self, call: ToolCall) -> ToolResult:
        """Carry out one call. Failures are results (`failed`, `refused`), not exceptions:
        the model reads them and answers. `pending_approval` stops the reply there."""
        ...


class ToolRunnerFactory(Protocol):
    async def __call__(self, user_id: str, body: dict[str, Any]) -> ToolRunner | None:
        """The runner for one request (None: no Parlay tools for it). Called for every chat
        completion, plain ones included: answer None cheaply when the request has no use
        for tools. `body` is the chat completion body, or for conversation items
        `{"model": ...}`."""
        ...


def tool_names(runner: ToolRunner | None) -> frozenset[str]:
    if runner is None:
        return frozenset()
    return frozenset(d["function"]["name"] for d in runner.definitions()
                     if isinstance(d.get("function"), dict) and "name" in d["function"])


def owned_calls(calls: Sequence[ToolCall], names: frozenset[str]) -> bool:
    """The loop goes on only when every call is to one of the runner's tools."""
    return bool(calls) and all(call.name in names for call in calls)
