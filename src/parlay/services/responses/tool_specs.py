"""The `tools` of a `POST /v1/responses` body: function tools (the client's), and the hosted
tools Parlay runs itself (web_search, code_interpreter, mcp: services/responses/tools.py).
An option of a hosted tool that Parlay cannot honour is refused by name, never ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, StringConstraints, Tag

from parlay.errors import BadRequest

FunctionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

# Tool types Parlay runs itself (services/responses/tools.py), and OpenAI's others.
WEB_SEARCH_TYPES = ("web_search", "web_search_preview", "web_search_2025_08_26",
                    "web_search_preview_2025_03_11")
HOSTED_TOOL_TYPES = frozenset({*WEB_SEARCH_TYPES, "code_interpreter", "mcp"})
UNSUPPORTED_TOOL_TYPES = frozenset({
    "file_search", "computer", "computer_use_preview", "image_generation", "local_shell",
    "shell", "custom", "apply_patch", "tool_search", "namespace", "programmatic_tool_calling",
})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FunctionTool(_Model):
    type: Literal["function"]
    name: FunctionName
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _Strict(BaseModel):
    # A hosted tool's options: every one Parlay does not honour is refused by name.
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSearchTool(_Strict):
    type: Literal["web_search", "web_search_preview", "web_search_2025_08_26",
                  "web_search_preview_2025_03_11"]


class AutoContainer(_Strict):
    type: Literal["auto"]


class CodeInterpreterTool(_Strict):
    type: Literal["code_interpreter"]
    container: AutoContainer


class ToolNames(_Strict):
    tool_names: list[str] | None = None


class ApprovalFilter(_Strict):
    always: ToolNames | None = None
    never: ToolNames | None = None


Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class McpTool(_Strict):
    type: Literal["mcp"]
    server_label: Label
    server_url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    allowed_tools: list[str] | ToolNames | None = None
    require_approval: Literal["always", "never"] | ApprovalFilter | None = None

    def allows(self, name: str) -> bool:
        allowed = self.allowed_tools
        names = allowed.tool_names if isinstance(allowed, ToolNames) else allowed
        return names is None or name in names

    def needs_approval(self, name: str) -> bool:
        """The request's own rule (OpenAI's default: always); the admin's come on top."""
        rule = self.require_approval
        if isinstance(rule, ApprovalFilter):
            return not (rule.never and name in (rule.never.tool_names or ()))
        return rule != "never"


def _tool_type(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


Tool = Annotated[
    Annotated[FunctionTool, Tag("function")]
    | Annotated[WebSearchTool, Tag("web_search")]
    | Annotated[CodeInterpreterTool, Tag("code_interpreter")]
    | Annotated[McpTool, Tag("mcp")],
    Discriminator(lambda v: "web_search" if _tool_type(v) in WEB_SEARCH_TYPES else _tool_type(v)),
]
HostedTool = WebSearchTool | CodeInterpreterTool | McpTool


def refuse_unsupported_tools(tools: Any) -> None:
    for index, tool in enumerate(tools if isinstance(tools, list) else ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind in UNSUPPORTED_TOOL_TYPES:
            raise BadRequest(f"tool type {kind!r} is not available on /v1/responses: Parlay "
                             "runs 'function', 'web_search', 'code_interpreter' and 'mcp' "
                             "tools", code="unsupported_tool", param=f"tools[{index}].type")
        if isinstance(kind, str) and kind in HOSTED_TOOL_TYPES:
            _refuse_hosted_options(index, tool)


# Options of hosted tools that Parlay cannot honour, and why.
_HOSTED_OPTIONS = {
    "filters": "search filters are not supported", "user_location": "user_location is not "
    "supported", "search_context_size": "search_context_size is not supported",
    "search_content_types": "search_content_types is not supported",
    "external_web_access": "external_web_access is not supported",
    "headers": "Parlay calls MCP servers with the headers an admin stored; omit 'headers'",
    "authorization": "Parlay calls MCP servers with the credentials an admin stored",
    "connector_id": "connectors are not supported: name an MCP server by 'server_url'",
    "tunnel_id": "MCP tunnels are not supported: name an MCP server by 'server_url'",
    "server_description": "server_description is not supported",
    "defer_loading": "deferred tool loading is not supported",
    "allowed_callers": "allowed_callers is not supported",
}


def _refuse_hosted_options(index: int, tool: dict[str, Any]) -> None:
    for name, reason in _HOSTED_OPTIONS.items():
        if tool.get(name) is not None:
            raise BadRequest(reason, code="unsupported_parameter", param=f"tools[{index}].{name}")
    container = tool.get("container")
    if tool.get("type") == "code_interpreter" and container is not None and not (
            isinstance(container, dict) and set(container) == {"type"}
            and container["type"] == "auto"):
        raise BadRequest("code_interpreter runs in Parlay's own sandbox: 'container' must be "
                         "{\"type\": \"auto\"}", code="unsupported_parameter",
                         param=f"tools[{index}].container")
    for key in ("allowed_tools", "require_approval"):
        if _mentions_read_only(tool.get(key)):
            raise BadRequest("'read_only' filters are not supported: list tool_names",
                             code="unsupported_parameter", param=f"tools[{index}].{key}")


def _mentions_read_only(value: Any) -> bool:
    if isinstance(value, dict):
        return "read_only" in value or any(_mentions_read_only(v) for v in value.values())
    return False
