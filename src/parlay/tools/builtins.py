"""Parlay's built-in MCP tools: what each one does and which user setting gates it.

The registry rows (enabled, reason, content filter) are seeded from these at start-up and
then belong to the admins; the definitions here own id, name, description and category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The advanced_settings flag a user turns on to let replies use the tool.
UserGate = Literal["web_search_enabled", "code_execution_enabled"]


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    id: str
    name: str
    description: str
    category: str
    user_gate: UserGate | None
    input_schema: dict[str, Any]


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


BUILTIN_TOOLS: tuple[BuiltinTool, ...] = (
    BuiltinTool(
        id="web_search",
        name="Web Search",
        description="Searches the public web for a query and returns result titles, URLs and "
        "snippets, so a reply can cite current information.",
        category="web",
        user_gate="web_search_enabled",
        input_schema=_object({
            "query": {"type": "string", "minLength": 1, "maxLength": 500,
                      "description": "what to search for"},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 10, "default": 5,
                            "description": "how many results to return"},
        }, ["query"]),
    ),
    BuiltinTool(
        id="web_scraper",
        name="Web Scraper",
        description="Fetches one public web page by URL and returns its readable text, so a "
        "reply can quote or summarise it.",
        category="web",
        user_gate="web_search_enabled",
        input_schema=_object({
            "url": {"type": "string", "minLength": 1, "maxLength": 2000,
                    "description": "the http(s) URL of a public page"},
        }, ["url"]),
    ),
    BuiltinTool(
        id="code_executor",
        name="Code Executor",
        description="Runs a short Python snippet in a sandbox with a time and memory limit "
        "and returns its output, for calculations and data checks.",
        category="code",
        user_gate="code_execution_enabled",
        input_schema=_object({
            "code": {"type": "string", "minLength": 1, "maxLength": 100_000,
                     "description": "the Python 3 program to run; print what you need"},
            "language": {"type": "string", "enum": ["python"], "default": "python"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 30, "default": 10,
                        "description": "wall-clock seconds before the run is stopped"},
        }, ["code"]),
    ),
)

BUILTINS_BY_ID: dict[str, BuiltinTool] = {tool.id: tool for tool in BUILTIN_TOOLS}
CATEGORIES: frozenset[str] = frozenset(tool.category for tool in BUILTIN_TOOLS)
