"""Parlay's tools in replies: which tools a request gets, and running them for it.

A chat completion asks for a tool by naming it without parameters in its `tools`
(`{"type": "function", "function": {"name": "web_search"}}`): Parlay supplies its description
and schema and runs its calls. A conversation reply (chat completions with `conversation`,
conversation items, regenerate) also gets the built-ins its user's `advanced_settings` turn
on (`web_search_enabled`: web_search and web_scraper; `code_execution_enabled`:
code_executor), less any its user listed in `disabled_tools`. A tool named but not usable
(disabled by an admin, off in the user's settings, unavailable here) is refused with a 400
before anything runs; one turned on by settings but not usable is left out. Every call
goes through `ToolRegistry.execute` (rate limit, switches, filters, approvals, timeout, the
call log).

The factory answers a plain chat completion (no `conversation`, no parameterless function)
with None before any lookup: the gateway's hot path pays one dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from parlay.errors import BadRequest
from parlay.services.replies.tools import ToolCall, ToolResult, function_names
from parlay.services.settings import how_to_allow, tool_blocked_by
from parlay.services.tool_registry import (
    Source,
    ToolOutcome,
    ToolRegistry,
    ToolSpec,
    user_allows,
)
from parlay.services.tools import ToolView
from parlay.tools.builtins import BUILTINS_BY_ID

# The built-ins each advanced_settings switch turns on for conversation replies.
SETTING_TOOLS = {"web_search_enabled": ("web_search", "web_scraper"),
                 "code_execution_enabled": ("code_executor",)}


class ReplyTools:
    """The reply pipeline's ToolRunnerFactory (`ctx.replies.tools`), over the registry."""

    def __init__(self, registry: ToolRegistry) -> None:
        self._registry = registry

    async def __call__(self, user_id: str, body: dict[str, Any]) -> ReplyToolbox | None:
        tools = body.get("tools")
        conversation = body.get("conversation") is not None
        if tools is None and not conversation:  # the plain gateway
            return None
        asked = named_tools(tools)
        if not asked and not conversation:
            return None
        known, advanced = await self._registry.tools_and_settings(user_id)
        by_id = {tool.id: tool for tool in known}
        chosen = [by_id[name] for name in asked if name in by_id]  # else: the client's own
        for tool in chosen:
            require_usable(tool, advanced, param="tools")
        if conversation:
            taken = function_names(tools) | {tool.id for tool in chosen}
            chosen += [tool for tool in switched_on(by_id, advanced) if tool.id not in taken]
        if not chosen:
            return None
        return ReplyToolbox(self._registry, user_id, [offered_spec(t) for t in chosen])


class ReplyToolbox:
    """One reply's tools (a ToolRunner): the specs offered, every call run by the registry.
    A call to a tool that was not offered is refused without running."""

    def __init__(self, registry: ToolRegistry, user_id: str, specs: list[ToolSpec], *,
                 source: Source = "chat") -> None:
        self._registry = registry
        self._user_id = user_id
        self.specs = specs
        self._source = source
        self._names = {spec.name for spec in specs}

    def definitions(self) -> list[dict[str, Any]]:
        return [spec.openai_tool() for spec in self.specs]

    async def run(self, call: ToolCall) -> ToolResult:
        if call.name not in self._names:
            return not_offered(call, self._names)
        outcome = await self._registry.execute(self._user_id, call.name, call.arguments,
                                               source=self._source, call_id=call.id)
        return result_of(call, outcome)


def named_tools(tools: Any) -> list[str]:
    """The function tools named without parameters: requests for Parlay's tools."""
    names = []
    for tool in tools if isinstance(tools, list) else ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if (isinstance(function, dict) and isinstance(function.get("name"), str)
                and function.get("parameters") is None and tool.get("type") == "function"):
            names.append(function["name"])
    return names


def require_usable(tool: ToolView, advanced: Any, *, param: str) -> None:
    """400 when a request asks for a tool the user cannot use now, saying why."""
    if not tool.enabled:
        raise BadRequest(f"tool {tool.id!r} is disabled by an admin"
                         + (f": {tool.reason}" if tool.reason else ""),
                         code="tool_disabled", param=param)
    blocked = tool_blocked_by(tool, advanced)
    if blocked:
        raise BadRequest(f"tool {tool.id!r} is off in your settings: {how_to_allow(blocked)} "
                         "(PATCH /v1/users/me/settings)",
                         code="tool_not_enabled_for_user", param=param)
    if not tool.available:
        raise BadRequest(f"tool {tool.id!r} is unavailable: {tool.unavailable_reason}",
                         code="tool_unavailable", param=param)


def usable(tool: ToolView | None, advanced: Any) -> bool:
    return (tool is not None and tool.enabled and tool.available
            and user_allows(tool, advanced))


def switched_on(by_id: dict[str, ToolView], advanced: Any) -> Iterable[ToolView]:
    """The built-ins the user's switches turn on that can run now (not in disabled_tools)."""
    for gate, names in SETTING_TOOLS.items():
        if getattr(advanced, gate, False):
            yield from (by_id[name] for name in names if usable(by_id.get(name), advanced))


def offered_spec(tool: ToolView) -> ToolSpec:
    """The tool as offered to a model: a built-in takes only its required input (`{query}`,
    `{url}`, `{code}`); an external tool its server's schema."""
    schema = tool.input_schema
    if tool.server_id is None and tool.id in BUILTINS_BY_ID:
        required = list(schema.get("required") or ())
        schema = {**schema, "required": required,
                  "properties": {k: v for k, v in schema["properties"].items() if k in required}}
    return ToolSpec(tool.id, tool.name, tool.description, schema)


def result_of(call: ToolCall, outcome: ToolOutcome) -> ToolResult:
    return ToolResult(call_id=call.id, output=outcome.output, status=outcome.status,
                      metadata=outcome.metadata, error_code=outcome.error_code,
                      approval_id=outcome.approval_id, data=outcome.data)


def not_offered(call: ToolCall, names: Iterable[str]) -> ToolResult:
    offered = ", ".join(sorted(names)) or "none"
    message = f"{call.name} is not one of the tools of this reply (offered: {offered})"
    return ToolResult(call_id=call.id, output=message, status="refused",
                      metadata={"tool": call.name, "error_code": "tool_not_offered"},
                      error_code="tool_not_offered")
