"""Running a tool for a user, with every rule applied, in one call.

    registry = ctx.tools                       # built at start-up (start_tools)
    outcome = await registry.execute(user_id, "web_search", '{"query": "..."}',
                                     source="chat", call_id="call_abc")

The rules, in order: the tools rate limit (group `tools`, per user); the tool exists and
the admin enabled it; the user's advanced_settings allow it (a built-in's switch is on and
the tool is not in `disabled_tools`: `settings.tool_blocked_by`, the one rule); it can run
here (a backend is configured); the arguments match its schema; none of the admin's
disallowed keywords occurs in them (refused, and audit-logged); none of the admin's
`require_approval_for` categories applies (else the call waits as an approval the user
decides through /v1/tool-approvals); then it runs under the per-call timeout. Every call,
however it ends, is one row in the tool call log (user, tool, source, status, error code,
duration; never arguments or output).

`execute` never raises for a refused or failed call: the outcome says what happened, in
words a model (or a person) can act on. The MCP server (/v1/mcp), the reply pipeline's tool
loop and the Responses API all go through here, so a switch means the same everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.base import new_id, utcnow
from parlay.db.models.tools import ToolApproval, ToolCallRecord
from parlay.db.repositories import mcp_servers as server_repo
from parlay.db.repositories import tool_calls as call_repo
from parlay.db.repositories import tools as tool_repo
from parlay.errors import RateLimited
from parlay.services import audit
from parlay.services import settings as user_settings
from parlay.services.ratelimit import RateLimiter
from parlay.services.secretbox import SecretBox
from parlay.services.tools import ToolView, get_tool
from parlay.tools.arguments import parse_arguments, searchable_text
from parlay.tools.base import ToolFailure, ToolOutput
from parlay.tools.builtins import BUILTINS_BY_ID
from parlay.tools.capabilities import categories_of
from parlay.tools.runtime import RemoteEndpoint, ToolRuntime

log = logging.getLogger("parlay.tools")

Source = Literal["mcp", "chat", "responses", "approval"]
Status = Literal["completed", "failed", "refused", "pending_approval"]
APPROVAL_TTL = timedelta(hours=24)
STORED_OUTPUT_CHARS = 64_000


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as a caller sees it: enough to offer it to a model or list it over MCP."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    available: bool = True
    unavailable_reason: str | None = None
    user_disabled_by: tuple[str, ...] = ()  # advanced_settings fields that turn it off

    def openai_tool(self) -> dict[str, Any]:
        """The Chat Completions `tools` entry ({"type": "function", "function": {...}})."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": self.input_schema}}


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """How one call ended. `output` is always the text to hand back to the model."""

    tool: str
    status: Status
    output: str
    call_id: str | None = None  # the caller's id for the call (e.g. the model's call_...)
    log_id: str = ""  # the tool_calls row
    error_code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    is_error: bool = False  # not completed, or the tool itself reported an error
    approval_id: str | None = None  # set when status == "pending_approval"
    duration_ms: int = 0

    @property
    def metadata(self) -> dict[str, Any]:
        """What to record beside the result (e.g. on a stored function_call_output item)."""
        return {"tool": self.tool, "error_code": self.error_code,
                "approval_id": self.approval_id, "tool_call_log_id": self.log_id,
                "duration_ms": self.duration_ms}


class CallLike(Protocol):
    id: str
    name: str
    arguments: str


class UserToolbox:
    """One user's tools for one reply, in the reply pipeline's ToolRunner shape:
    `definitions()` (OpenAI function tools, loaded when the toolbox was made) and
    `run(call)` -> ToolOutcome (call_id, output, status, metadata)."""

    def __init__(self, registry: ToolRegistry, user_id: str, specs: list[ToolSpec],
                 source: Source) -> None:
        self.registry = registry
        self.user_id = user_id
        self.specs = specs
        self.source = source

    def definitions(self) -> list[dict[str, Any]]:
        return [spec.openai_tool() for spec in self.specs]

    async def run(self, call: CallLike) -> ToolOutcome:
        return await self.registry.execute(self.user_id, call.name, call.arguments,
                                           source=self.source, call_id=call.id)


class _Refusal(Exception):
    def __init__(self, status: Status, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ToolRegistry:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], limiter: RateLimiter,
                 runtime: ToolRuntime, secrets: SecretBox, *, timeout: float = 45.0) -> None:
        self.sessionmaker = sessionmaker
        self.limiter = limiter
        self.runtime = runtime
        self.secrets = secrets
        self.timeout = timeout
        self._background: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.runtime.aclose()

    # --- what a user may use ----------------------------------------------------------

    def with_availability(self, tool: ToolView, server_enabled: bool | None = None
                          ) -> ToolView:
        if tool.server_id is not None:
            reason = None if server_enabled else "its MCP server is disabled"
            return tool.unavailable(reason)
        if tool.id not in BUILTINS_BY_ID:
            return tool.unavailable("no longer a built-in tool")
        return tool.unavailable(self.runtime.unavailable_reason(tool.id))

    async def all_tools(self, session: AsyncSession, *, enabled: bool | None = None,
                        category: str | None = None) -> list[ToolView]:
        """Every registry row with its availability (the admin list)."""
        servers = {s.id: s.enabled for s in await server_repo.list_servers(session)}
        return [self.with_availability(ToolView.of(row), servers.get(row.server_id or ""))
                for row in await tool_repo.list_tools(session, enabled=enabled,
                                                      category=category)]

    async def describe(self, session: AsyncSession, tool_id: str) -> ToolView:
        """One registry row with its availability (404 tool_not_found)."""
        tool = await get_tool(session, tool_id)
        server = (await server_repo.get_server(session, tool.server_id)
                  if tool.server_id else None)
        return self.with_availability(tool, server.enabled if server else None)

    async def user_states(self, user_id: str) -> list[tuple[ToolView, list[str]]]:
        """Every tool the admin enabled, with the user's settings that turn it off (if any)."""
        async with self.sessionmaker() as session:
            tools = await self.all_tools(session, enabled=True)
            advanced = (await user_settings.load_settings(session, user_id)).advanced_settings
        return [(tool, user_settings.tool_blocked_by(tool, advanced)) for tool in tools]

    async def tools_and_settings(self, user_id: str) -> tuple[list[ToolView], Any]:
        """Every registry tool with its availability, and the user's advanced_settings."""
        async with self.sessionmaker() as session:
            tools = await self.all_tools(session)
            advanced = (await user_settings.load_settings(session, user_id)).advanced_settings
        return tools, advanced

    async def catalog(self, user_id: str, *, with_user_disabled: bool = False
                      ) -> list[ToolSpec]:
        """What /v1/mcp lists: the user's tools, unavailable ones saying why. With
        `with_user_disabled` (/v1/tools) also those the user's settings turn off, saying so."""
        return [_spec(tool, blocked) for tool, blocked in await self.user_states(user_id)
                if with_user_disabled or not blocked]

    async def definitions(self, user_id: str, only: set[str] | None = None) -> list[ToolSpec]:
        """Tools to offer a model: the user's available tools (restricted to `only`)."""
        return [_spec(t) for t, blocked in await self.user_states(user_id)
                if not blocked and t.available and (only is None or t.id in only)]

    async def toolbox(self, user_id: str, *, only: set[str] | None = None,
                      source: Source = "chat") -> UserToolbox:
        """The user's available tools (restricted to `only`) ready for a reply's tool loop."""
        return UserToolbox(self, user_id, await self.definitions(user_id, only), source)

    async def browser_ready(self) -> bool:
        """web_search and web_scraper both enabled and runnable: `browser` models."""
        async with self.sessionmaker() as session:
            tools = {t.id: t for t in await self.all_tools(session, category="web")}
        return all(t in tools and tools[t].enabled and tools[t].available
                   for t in ("web_search", "web_scraper"))

    # --- running ----------------------------------------------------------------------

    async def execute(self, user_id: str, name: str, arguments: str | dict[str, Any] | None,
                      *, source: Source, call_id: str | None = None,
                      time_limit: float | None = None) -> ToolOutcome:
        """Run tool `name` for `user_id` with every rule applied; never raises for a
        refused or failed call (see the module docstring)."""
        started = time.monotonic()
        try:
            args = _arguments(arguments)
            await self._count(user_id)
            tool, endpoint = await self._checked_tool(user_id, name, args)
            reasons = tool.content_filter.approval_reasons(categories_of(tool.kind, args))
            if reasons:
                approval_id = await self._pause(user_id, tool, args, reasons, source, call_id)
                return await self._finish(
                    user_id, name, source, call_id, started, status="pending_approval",
                    code=None, approval_id=approval_id,
                    output=f"This {name} call needs the user's approval ({', '.join(reasons)})"
                           f"; it runs once they approve it: POST /v1/tool-approvals/"
                           f"{approval_id}/approve (or /reject).")
            with self._logged_if_cancelled(user_id, name, source, call_id, started):
                result = await self._run(tool, endpoint, args, time_limit)
        except _Refusal as refusal:
            return await self._finish(user_id, name, source, call_id, started,
                                      status=refusal.status, code=refusal.code,
                                      output=refusal.message)
        return await self._finish(user_id, name, source, call_id, started, status="completed",
                                  code=None, output=result.text, data=result.data,
                                  is_error=result.is_error)

    async def run_approved(self, approval: ToolApproval) -> ToolOutcome:
        """Run a call its user just approved: every rule again except the approval."""
        started = time.monotonic()
        source: Source = "approval"
        try:
            await self._count(approval.user_id)
            tool, endpoint = await self._checked_tool(approval.user_id, approval.tool_id,
                                                      approval.arguments)
            with self._logged_if_cancelled(approval.user_id, approval.tool_id, source,
                                           approval.call_id, started, approval.id):
                result = await self._run(tool, endpoint, approval.arguments, None)
        except _Refusal as refusal:
            return await self._finish(approval.user_id, approval.tool_id, source,
                                      approval.call_id, started, status=refusal.status,
                                      code=refusal.code, output=refusal.message,
                                      approval_id=approval.id)
        return await self._finish(approval.user_id, approval.tool_id, source, approval.call_id,
                                  started, status="completed", code=None, output=result.text,
                                  data=result.data, is_error=result.is_error,
                                  approval_id=approval.id)

    async def _count(self, user_id: str) -> None:
        try:
            await self.limiter.hit("tools", user_id)
        except RateLimited as exc:
            raise _Refusal("refused", "rate_limited", exc.message) from None

    async def _checked_tool(self, user_id: str, name: str, args: dict[str, Any]
                            ) -> tuple[ToolView, RemoteEndpoint | None]:
        async with self.sessionmaker() as session:
            row = await tool_repo.get_tool(session, name)
            server = (await server_repo.get_server(session, row.server_id)
                      if row is not None and row.server_id else None)
            tool = (self.with_availability(ToolView.of(row), server.enabled if server else None)
                    if row is not None else None)
            if tool is None:
                raise _Refusal("refused", "tool_not_found", f"there is no tool named {name!r}")
            if not tool.enabled:
                raise _Refusal("refused", "tool_disabled", f"{name} is disabled by an admin"
                               + (f": {tool.reason}" if tool.reason else ""))
            advanced = (await user_settings.load_settings(session, user_id)).advanced_settings
            blocked = user_settings.tool_blocked_by(tool, advanced)
            if blocked:
                raise _Refusal("refused", "tool_not_enabled_for_user",
                               f"{name} is off in this user's settings "
                               f"({user_settings.how_to_allow(blocked)})")
            if not tool.available:
                raise _Refusal("failed", "tool_unavailable",
                               f"{name} is unavailable: {tool.unavailable_reason}")
            hits = tool.content_filter.matches(searchable_text(args))
            if hits:
                await audit.record(session, actor_id=user_id, action="tool_call.blocked",
                                   target_type="mcp_tool", target_id=tool.id,
                                   changes={"disallowed_keywords": hits})
                await session.commit()
                raise _Refusal("refused", "tool_content_blocked",
                               f"{name} refused the call: the arguments contain the disallowed "
                               f"keyword{'s' if len(hits) > 1 else ''} "
                               + ", ".join(repr(h) for h in hits))
            endpoint = self._endpoint(tool, server) if server is not None else None
        return tool, endpoint

    def _endpoint(self, tool: ToolView, server: Any) -> RemoteEndpoint:
        headers: dict[str, str] = {}
        if server.headers_encrypted:
            plain = self.secrets.decrypt(server.headers_encrypted)
            if plain is None:
                raise _Refusal("failed", "tool_unavailable",
                               f"{tool.id} is unavailable: its server's headers were stored "
                               "with another PARLAY_SECRET_KEY; set them again")
            headers = orjson.loads(plain)
        return RemoteEndpoint(server.url, headers, tool.upstream_name or tool.id)

    async def _run(self, tool: ToolView, endpoint: RemoteEndpoint | None, args: dict[str, Any],
                   time_limit: float | None) -> ToolOutput:
        limit = time_limit or self.timeout
        try:
            async with asyncio.timeout(limit):
                if endpoint is not None:
                    return await self.runtime.run_remote(endpoint, args)
                return await self.runtime.run_builtin(tool.id, args)
        except ToolFailure as failure:
            raise _Refusal("failed", failure.code, f"{tool.id} failed: {failure.message}"
                           ) from None
        except TimeoutError:
            raise _Refusal("failed", "tool_timeout",
                           f"{tool.id} did not finish within {limit:g} s") from None
        except Exception:
            log.exception("tool %s crashed", tool.id)
            raise _Refusal("failed", "tool_error", f"{tool.id} failed unexpectedly") from None

    async def _pause(self, user_id: str, tool: ToolView, args: dict[str, Any],
                     reasons: list[str], source: Source, call_id: str | None) -> str:
        now = utcnow()
        approval = ToolApproval(
            id=new_id("apr"), user_id=user_id, tool_id=tool.id, arguments=args,
            categories=reasons, source=source, call_id=call_id, status="pending",
            created_at=now, expires_at=now + APPROVAL_TTL)
        async with self.sessionmaker() as session:
            session.add(approval)
            await session.commit()
        return approval.id

    async def _finish(self, user_id: str, tool: str, source: Source, call_id: str | None,
                      started: float, *, status: Status, code: str | None, output: str,
                      data: dict[str, Any] | None = None, is_error: bool = False,
                      approval_id: str | None = None) -> ToolOutcome:
        record = _record(user_id, tool, source, started, status, code, approval_id)
        await self._write(record)
        return ToolOutcome(tool=tool, status=status, output=output, call_id=call_id,
                           log_id=record.id, error_code=code, data=data or {},
                           is_error=is_error or status != "completed",
                           approval_id=approval_id if status == "pending_approval" else None,
                           duration_ms=record.duration_ms)

    @contextmanager
    def _logged_if_cancelled(self, user_id: str, tool: str, source: Source,
                             call_id: str | None, started: float,
                             approval_id: str | None = None) -> Iterator[None]:
        """A run cancelled from outside (the client went away) is still one log row; it is
        written by a task of its own, as the cancelled one may not await anything more."""
        try:
            yield
        except asyncio.CancelledError:
            record = _record(user_id, tool, source, started, "failed", "cancelled", approval_id)
            task = asyncio.create_task(self._write(record))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            raise

    async def _write(self, record: ToolCallRecord) -> None:
        async with self.sessionmaker() as session:
            await call_repo.add_call(session, record)
            await session.commit()
        log.info("tool call", extra={"fields": {
            "tool": record.tool_id, "user_id": record.user_id, "source": record.source,
            "status": record.status, "error_code": record.error_code,
            "ms": record.duration_ms, "tool_call_id": record.id}})


def _record(user_id: str, tool: str, source: Source, started: float, status: str,
            code: str | None, approval_id: str | None) -> ToolCallRecord:
    return ToolCallRecord(id=new_id("tcl"), user_id=user_id, tool_id=tool[:64], source=source,
                          status=status, error_code=code,
                          duration_ms=int((time.monotonic() - started) * 1000),
                          approval_id=approval_id, created_at=utcnow())


def _arguments(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    try:
        return parse_arguments(arguments)
    except ToolFailure as failure:
        raise _Refusal("failed", failure.code, failure.message) from None


def user_allows(tool: ToolView, advanced: Any) -> bool:
    """The user's advanced_settings allow the tool (settings.tool_blocked_by is the rule)."""
    return not user_settings.tool_blocked_by(tool, advanced)


def _spec(tool: ToolView, blocked: list[str] | None = None) -> ToolSpec:
    return ToolSpec(tool.id, tool.name, tool.description, tool.input_schema, tool.available,
                    tool.unavailable_reason,
                    tuple(f"advanced_settings.{name}" for name in blocked or ()))
