"""A response's output items while it is produced, in OpenAI's shapes: the model's text
(`message`), calls to the client's functions (`function_call`), Parlay's tool calls
(`web_search_call`, `code_interpreter_call`, `mcp_call`) and items made whole at once
(`mcp_list_tools`, `mcp_approval_request`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from parlay.db.base import new_id
from parlay.services.replies import ToolCall, ToolResult
from parlay.services.responses.tools import Hosted

CONTAINER_ID = "parlay"  # code_interpreter runs in Parlay's own sandbox, not a container
_ID_PREFIX = {"web_search": "ws", "code_interpreter": "ci", "mcp": "mcp"}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


@dataclass(eq=False)
class TextMessage:
    id: str
    parts: list[str] = field(default_factory=list)
    status: str = "completed"
    done: bool = False

    def item(self, *, in_progress: bool = False) -> dict[str, Any]:
        content = [] if in_progress else [text_part("".join(self.parts))]
        return {"id": self.id, "type": "message", "role": "assistant",
                "status": "in_progress" if in_progress else self.status, "content": content}


@dataclass(eq=False)
class ClientCall:
    id: str
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    status: str = "completed"
    done: bool = False

    def item(self, *, in_progress: bool = False) -> dict[str, Any]:
        return {"id": self.id, "type": "function_call",
                "status": "in_progress" if in_progress else self.status,
                "call_id": self.call_id, "name": self.name,
                "arguments": "" if in_progress else "".join(self.arguments)}


@dataclass(eq=False)
class Static:
    """An item complete from the start."""

    data: dict[str, Any]
    status: str = "completed"
    done: bool = False

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def item(self, *, in_progress: bool = False) -> dict[str, Any]:
        return self.data


@dataclass(eq=False)
class HostedCall:
    """A call to one of Parlay's tools, as the hosted tool's own item."""

    hosted: Hosted
    call: ToolCall
    approval_request_id: str | None = None
    status: str = "in_progress"
    output: str | None = None
    failed: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    id: str = ""

    def __post_init__(self) -> None:
        self.id = new_id(_ID_PREFIX[self.hosted.kind])
        try:
            arguments = orjson.loads(self.call.arguments)
        except orjson.JSONDecodeError:
            arguments = None
        self.arguments: dict[str, Any] = arguments if isinstance(arguments, dict) else {}

    def progress(self) -> list[tuple[str, dict[str, Any]]]:
        """Its events between `added` and the call's end."""
        kind = self.hosted.kind
        if kind == "web_search":
            return [("response.web_search_call.in_progress", {}),
                    ("response.web_search_call.searching", {})]
        if kind == "code_interpreter":
            code = self._code()
            return [("response.code_interpreter_call.in_progress", {}),
                    ("response.code_interpreter_call_code.delta", {"delta": code}),
                    ("response.code_interpreter_call_code.done", {"code": code}),
                    ("response.code_interpreter_call.interpreting", {})]
        return [("response.mcp_call_arguments.delta", {"delta": self.call.arguments}),
                ("response.mcp_call_arguments.done", {"arguments": self.call.arguments}),
                ("response.mcp_call.in_progress", {})]

    def finish(self, result: ToolResult) -> None:
        self.failed = result.status != "completed"
        self.status = "failed" if self.failed else "completed"
        self.output = result.output
        self.data = result.data or {}

    def finished_event(self) -> str:
        if self.hosted.kind == "mcp":
            return "response.mcp_call.failed" if self.failed else "response.mcp_call.completed"
        return f"response.{self.hosted.kind}_call.completed"

    def item(self, *, in_progress: bool = False) -> dict[str, Any]:
        status = "in_progress" if in_progress else self.status
        base = {"id": self.id, "status": status}
        if self.hosted.kind == "web_search":
            found = {"type": "web_search_call", **base, "action": self._action()}
            if self.output is not None:
                found["output"] = self.output  # Parlay's: what the model read
            return found
        if self.hosted.kind == "code_interpreter":
            outputs = None if self.output is None else [{"type": "logs", "logs": self.output}]
            return {"type": "code_interpreter_call", **base, "code": self._code(),
                    "container_id": CONTAINER_ID, "outputs": outputs}
        error = ({"type": "mcp_tool_execution_error",
                  "content": [{"type": "text", "text": self.output}]} if self.failed else None)
        return {"type": "mcp_call", **base, "server_label": self.hosted.server_label,
                "name": self.call.name, "arguments": self.call.arguments,
                "output": None if self.failed else self.output, "error": error,
                "approval_request_id": self.approval_request_id}

    def _code(self) -> str:
        return str(self.arguments.get("code") or "")

    def _action(self) -> dict[str, Any]:
        if self.hosted.tool_id == "web_scraper":
            return {"type": "open_page", "url": self.arguments.get("url")}
        action: dict[str, Any] = {"type": "search", "query": self.arguments.get("query")}
        results = self.data.get("results")
        if isinstance(results, list):
            action["sources"] = [{"type": "url", "url": hit["url"]} for hit in results
                                 if isinstance(hit, dict) and isinstance(hit.get("url"), str)]
        return action


OutputItem = TextMessage | ClientCall | HostedCall | Static
