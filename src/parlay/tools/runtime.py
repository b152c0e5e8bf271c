"""The tool backends of one running Parlay, and running one tool call on them.

No rules live here (switches, filters, approvals, limits, logging: services/tool_registry);
this is only "given valid arguments, run it".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema

from parlay.tools.base import ToolFailure, ToolOutput
from parlay.tools.builtins import BUILTINS_BY_ID
from parlay.tools.mcp_client import McpRemote
from parlay.tools.sandbox import CodeSandbox
from parlay.tools.scraper import WebScraper
from parlay.tools.search import WebSearch

MAX_CODE_BYTES = 100_000  # also the kernel's cap on one argv string is 128 KiB


@dataclass(frozen=True, slots=True)
class RemoteEndpoint:
    url: str
    headers: dict[str, str]
    tool_name: str  # the tool's name on that server


class ToolRuntime:
    def __init__(self, *, scraper: WebScraper, search: WebSearch | None, search_reason: str,
                 sandbox: CodeSandbox | None, sandbox_reason: str,
                 remote_timeout: float = 45.0) -> None:
        self.scraper = scraper
        self.search = search
        self.sandbox = sandbox
        self._reasons = {"web_search": None if search else search_reason,
                         "code_executor": None if sandbox else sandbox_reason,
                         "web_scraper": None}
        self.remote_timeout = remote_timeout

    def unavailable_reason(self, tool_id: str) -> str | None:
        """None when the built-in can run here; else why not (and how to enable it)."""
        return self._reasons.get(tool_id)

    async def aclose(self) -> None:
        for backend in (self.scraper, self.search, self.sandbox):
            if backend is not None:
                await backend.aclose()

    async def run_builtin(self, tool_id: str, arguments: dict[str, Any]) -> ToolOutput:
        check_arguments(BUILTINS_BY_ID[tool_id].input_schema, arguments)
        if tool_id == "web_search":
            if self.search is None:
                raise ToolFailure("tool_unavailable", self._reasons["web_search"] or "")
            return await self.search.search(arguments["query"],
                                            int(arguments.get("max_results", 5)))
        if tool_id == "web_scraper":
            return await self.scraper.scrape(arguments["url"])
        if tool_id == "code_executor":
            return await self._run_code(arguments)
        raise ToolFailure("tool_not_found", f"no built-in tool {tool_id!r}")

    async def _run_code(self, arguments: dict[str, Any]) -> ToolOutput:
        if self.sandbox is None:
            raise ToolFailure("tool_unavailable", self._reasons["code_executor"] or "")
        code = arguments["code"]
        if "\x00" in code or len(code.encode()) > MAX_CODE_BYTES:
            raise ToolFailure("invalid_arguments",
                              f"code must be at most {MAX_CODE_BYTES} bytes, without NUL")
        limits = self.sandbox.limits
        timeout = min(float(arguments.get("timeout", limits.default_timeout)),
                      limits.max_timeout)
        result = await self.sandbox.run(code, timeout)
        return result.output(limits.returned_chars)

    async def run_remote(self, endpoint: RemoteEndpoint, arguments: dict[str, Any]
                         ) -> ToolOutput:
        remote = McpRemote(endpoint.url, endpoint.headers, self.remote_timeout)
        return await remote.call_tool(endpoint.tool_name, arguments)


def check_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """ToolFailure(invalid_arguments) naming the first problem, as a model can fix it."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        raise ToolFailure("invalid_arguments", f"{where}: {error.message}")
