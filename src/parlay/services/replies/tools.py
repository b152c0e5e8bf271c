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
# Results that end the reply there (its `metadata.stopped`), whatever the model would do next.
TIMEOUT_CODE = "tool_timeout"


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
    error_code: str | None = None  # why it failed or was refused (docs/errors.md)
    approval_id: str | None = None  # pending_approval: what the user approves or rejects
    data: dict[str, Any] | None = None  # the tool's structured result (not stored)

    @property
    def stops(self) -> str | None:
        """Why the reply stops after this result (None: the model reads it and goes on)."""
        if self.status == "pending_approval":
            return "pending_approval"
        return "tool_timeout" if self.error_code == TIMEOUT_CODE else None


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
        """The runner for one request (None: no Parlay tools for it). Called for the chat
        completions that have `tools` or `conversation` (a plain one never asks), and for
        every conversation reply: answer None cheaply when the request has no use for
        tools. `body` is the chat completion body, or for conversation items and regenerate
        `{"model": ..., "conversation": ...}`."""
        ...


def tool_names(runner: ToolRunner | None) -> frozenset[str]:
    if runner is None:
        return frozenset()
    return frozenset(d["function"]["name"] for d in runner.definitions()
                     if isinstance(d.get("function"), dict) and "name" in d["function"])


def function_names(tools: Any) -> frozenset[str]:
    """The names of the function tools in a chat completion's `tools`."""
    names = set()
    for tool in tools if isinstance(tools, list) else ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return frozenset(names)


def served_calls(calls: Sequence[ToolCall], client_names: frozenset[str]) -> bool:
    """With a runner, the loop goes on when no call is to one of the client's own functions:
    the runner answers every other call (refusing the ones it does not offer)."""
    return bool(calls) and not any(call.name in client_names for call in calls)
