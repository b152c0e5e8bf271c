"""The Responses API's hosted tools, run by Parlay: which registry tools a request's `tools`
stand for, and running the model's calls to them in the reply pipeline's tool loop.

  {"type": "web_search"}                     -> web_search (and web_scraper, when usable)
  {"type": "code_interpreter", "container": {"type": "auto"}} -> code_executor
  {"type": "mcp", "server_label", "server_url", "allowed_tools", "require_approval"}
      server_url an admin-registered MCP server's URL -> that server's tools (its own names)
      server_url Parlay's own /v1/mcp (by path)       -> the user's tools (registry ids)
      anything else: 400; Parlay never connects to a URL a request names.

Every call goes through `ToolRegistry.execute` (switches, filters, the admin's approvals,
rate limit, timeout, the log). An mcp tool the request's `require_approval` covers (by
default all, as in OpenAI's API) waits for an `mcp_approval_response` in the next request;
so does a call the admin's `require_approval_for` pauses (its id is then the Parlay approval's,
also decidable through /v1/tool-approvals).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id
from parlay.db.repositories import mcp_servers as server_repo
from parlay.errors import BadRequest, Conflict
from parlay.services import tool_approvals
from parlay.services.replies import ToolCall, ToolResult
from parlay.services.reply_tools import (
    not_offered,
    offered_spec,
    require_usable,
    result_of,
    usable,
)
from parlay.services.responses.tool_specs import (
    CodeInterpreterTool,
    HostedTool,
    McpTool,
    WebSearchTool,
)
from parlay.services.settings import load_settings
from parlay.services.tool_registry import ToolRegistry, ToolSpec
from parlay.services.tools import ToolView

Kind = Literal["web_search", "code_interpreter", "mcp"]
OWN_MCP_PATH = "/v1/mcp"
BUILTIN_LABEL = "parlay"  # server_label of approval requests for web_search/code_interpreter
REJECTED = "The user rejected this call; it did not run."


@dataclass(frozen=True, slots=True)
class Hosted:
    """One function offered to the model for a hosted tool."""

    name: str          # what the model calls (an MCP server's own name for its tool)
    tool_id: str       # the registry tool that runs it
    kind: Kind
    server_label: str
    approval: bool = False  # the request's require_approval covers it


@dataclass(frozen=True, slots=True)
class Decision:
    """An `mcp_approval_response` of this request, for a call of the previous response."""

    approval_id: str
    approve: bool
    call: ToolCall


@dataclass
class HostedTools:
    tools: dict[str, Hosted] = field(default_factory=dict)
    specs: list[ToolSpec] = field(default_factory=list)
    listings: list[dict[str, Any]] = field(default_factory=list)  # mcp_list_tools items
    decisions: dict[str, Decision] = field(default_factory=dict)  # by the call's id

    def definitions(self) -> list[dict[str, Any]]:
        return [spec.openai_tool() for spec in self.specs]


async def hosted_tools(session: AsyncSession, registry: ToolRegistry, user_id: str,
                       requested: list[HostedTool], taken: set[str],
                       listed: set[str]) -> HostedTools:
    """The functions the request's hosted tools offer the model. `taken`: the client's own
    function names; `listed`: server labels the chain already listed (not listed again)."""
    tools = await registry.all_tools(session)
    advanced = (await load_settings(session, user_id)).advanced_settings
    by_id = {tool.id: tool for tool in tools}
    hosted = HostedTools()
    for index, spec in enumerate(requested):
        param = f"tools[{index}]"
        if isinstance(spec, WebSearchTool):
            found = [_builtin(by_id, "web_search", advanced, param)]
            if usable(by_id.get("web_scraper"), advanced):
                found.append(by_id["web_scraper"])
            _offer(hosted, found, "web_search", BUILTIN_LABEL, taken, param)
        elif isinstance(spec, CodeInterpreterTool):
            _offer(hosted, [_builtin(by_id, "code_executor", advanced, param)],
                   "code_interpreter", BUILTIN_LABEL, taken, param)
        else:
            found = await _mcp_tools(session, spec, tools, advanced, param)
            _offer(hosted, found, "mcp", spec.server_label, taken, param, spec)
            if spec.server_label not in listed:
                hosted.listings.append(_listing(spec.server_label, found, hosted))
    return hosted


def _builtin(by_id: dict[str, ToolView], tool_id: str, advanced: Any, param: str) -> ToolView:
    tool = by_id.get(tool_id)
    if tool is None:
        raise BadRequest(f"tool {tool_id!r} is not installed", code="tool_unavailable",
                         param=param)
    require_usable(tool, advanced, param=param)
    return tool


async def _mcp_tools(session: AsyncSession, spec: McpTool, tools: list[ToolView],
                     advanced: Any, param: str) -> list[ToolView]:
    """The MCP server a request names, by URL, and its tools the user may use."""
    url = spec.server_url.rstrip("/")
    for server in await server_repo.list_servers(session):
        if server.url.rstrip("/") == url:
            if not server.enabled:
                raise BadRequest(f"MCP server {server.name!r} is disabled by an admin",
                                 code="tool_unavailable", param=f"{param}.server_url")
            return [tool for tool in tools if tool.server_id == server.id
                    and usable(tool, advanced) and spec.allows(_mcp_name(tool))]
    if urlsplit(url).path.rstrip("/") == OWN_MCP_PATH:
        return [tool for tool in tools if usable(tool, advanced) and spec.allows(tool.id)]
    raise BadRequest("server_url must be Parlay's own MCP server (/v1/mcp) or one an admin "
                     "registered (GET /v1/admin/mcp/servers): Parlay connects to no other",
                     code="mcp_server_not_allowed", param=f"{param}.server_url")


def _mcp_name(tool: ToolView) -> str:
    """What an MCP server calls its tool (Parlay's own: the registry id)."""
    return tool.upstream_name or tool.id


def _offer(hosted: HostedTools, found: Iterable[ToolView], kind: Kind, label: str,
           taken: set[str], param: str, mcp: McpTool | None = None) -> None:
    for tool in found:
        name = _mcp_name(tool) if mcp is not None and tool.server_id else tool.id
        if name in taken or name in hosted.tools:
            raise BadRequest(f"two tools are named {name!r} (narrow an mcp tool's "
                             "allowed_tools, or rename a function)", code="invalid_value",
                             param=param)
        approval = mcp is not None and mcp.needs_approval(name)
        hosted.tools[name] = Hosted(name, tool.id, kind, label, approval)
        spec = offered_spec(tool)
        hosted.specs.append(ToolSpec(name, spec.title, spec.description, spec.input_schema))


def _listing(label: str, found: list[ToolView], hosted: HostedTools) -> dict[str, Any]:
    names = {hosted_tool.tool_id: hosted_tool.name for hosted_tool in hosted.tools.values()}
    return {"id": new_id("mcpl"), "type": "mcp_list_tools", "server_label": label,
            "tools": [{"name": names[tool.id], "description": tool.description,
                       "input_schema": tool.input_schema, "annotations": None}
                      for tool in found], "error": None}


def decisions_of(responses: list[dict[str, Any]], requests: dict[str, dict[str, Any]]
                 ) -> dict[str, Decision]:
    """The calls `mcp_approval_response` input items answer (each one once, checked by the
    caller against the chain's requests)."""
    found = {}
    for answer in responses:
        request = requests[answer["approval_request_id"]]
        call = ToolCall(id=request["id"], name=request["name"],
                        arguments=request["arguments"])
        found[call.id] = Decision(request["id"], bool(answer["approve"]), call)
    return found


class ResponseToolbox:
    """One response's hosted tools, as the reply pipeline's ToolRunner."""

    def __init__(self, registry: ToolRegistry, user_id: str, hosted: HostedTools, *,
                 max_calls: int | None) -> None:
        self._registry = registry
        self._user_id = user_id
        self._hosted = hosted
        self._max_calls = max_calls
        self._calls = 0

    def definitions(self) -> list[dict[str, Any]]:
        return self._hosted.definitions()

    async def run(self, call: ToolCall) -> ToolResult:
        hosted = self._hosted.tools.get(call.name)
        if hosted is None:
            return not_offered(call, self._hosted.tools)
        decision = self._hosted.decisions.get(call.id)
        if decision is not None and not decision.approve:
            return await self._rejected(call, decision)
        if self._max_calls is not None and self._calls >= self._max_calls:
            return ToolResult(call.id, f"not run: this response's max_tool_calls "
                              f"({self._max_calls}) is reached", "refused",
                              error_code="max_tool_calls")
        self._calls += 1
        if decision is None and hosted.approval:
            approval_id = new_id("mcpr")
            return ToolResult(call.id, f"{call.name} waits for the user's approval "
                              f"({approval_id})", "pending_approval", approval_id=approval_id)
        if decision is not None and decision.approval_id.startswith("apr_"):
            return await self._approved(call, decision.approval_id)
        outcome = await self._registry.execute(self._user_id, hosted.tool_id, call.arguments,
                                               source="responses", call_id=call.id)
        return result_of(call, outcome)

    async def _approved(self, call: ToolCall, approval_id: str) -> ToolResult:
        """A call the admin's rules paused, approved in this request: it runs now, or its
        result is taken if the user approved it through /v1/tool-approvals already."""
        async with self._registry.sessionmaker() as session:
            view = await tool_approvals.get_approval(session, self._user_id, approval_id)
            if view.status == "pending":
                try:
                    view, outcome = await tool_approvals.approve(session, self._registry,
                                                                 self._user_id, approval_id)
                    return result_of(call, outcome)
                except Conflict:
                    view = await tool_approvals.get_approval(session, self._user_id,
                                                             approval_id)
        if view.status == "approved" and view.result_status is not None:
            return ToolResult(call.id, view.result_output or "", view.result_status,  # type: ignore[arg-type]
                              error_code=view.result_error_code)
        code = "approval_rejected" if view.status == "rejected" else "approval_expired"
        return ToolResult(call.id, f"not run: its approval is {view.status}", "refused",
                          error_code=code)

    async def _rejected(self, call: ToolCall, decision: Decision) -> ToolResult:
        if decision.approval_id.startswith("apr_"):
            async with self._registry.sessionmaker() as session:
                # decided already (through /v1/tool-approvals): still not run here
                with contextlib.suppress(Conflict):
                    await tool_approvals.reject(session, self._user_id, decision.approval_id)
        return ToolResult(call.id, REJECTED, "refused", error_code="approval_rejected")
