"""Building the tool registry from settings at start-up (ctx.tools), and plugging it into
the reply pipeline (ctx.replies.tools)."""

from __future__ import annotations

import logging

from parlay.context import AppContext
from parlay.services.reply_tools import ReplyTools
from parlay.services.secretbox import SecretBox
from parlay.services.tool_registry import ToolRegistry
from parlay.tools.netguard import AddressPolicy
from parlay.tools.runtime import ToolRuntime
from parlay.tools.sandbox import sandbox_from_spec
from parlay.tools.scraper import WebScraper
from parlay.tools.search import WebSearch, pick_backend

log = logging.getLogger("parlay.tools")


async def start_tools(ctx: AppContext) -> ToolRegistry:
    """Build the backends from settings; say at start-up what is unavailable and why."""
    s = ctx.settings
    backend = pick_backend(searxng_url=s.searxng_url, brave_key=s.brave_api_key,
                           tavily_key=s.tavily_api_key, serper_key=s.serper_api_key)
    sandbox, sandbox_reason = await sandbox_from_spec(s.code_executor)
    runtime = ToolRuntime(
        scraper=WebScraper(AddressPolicy(s.web_allowed_hosts)),
        search=WebSearch(backend) if backend else None,
        search_reason="no search backend is configured (set PARLAY_SEARXNG_URL, or "
                      "PARLAY_BRAVE_API_KEY, PARLAY_TAVILY_API_KEY or PARLAY_SERPER_API_KEY)",
        sandbox=sandbox, sandbox_reason=sandbox_reason, remote_timeout=s.tool_timeout)
    for tool_id in ("web_search", "code_executor"):
        reason = runtime.unavailable_reason(tool_id)
        if reason:
            log.warning("tool %s is unavailable: %s", tool_id, reason)
    registry = ToolRegistry(ctx.sessionmaker, ctx.limiter, runtime,
                            SecretBox(s.resolved_secret_key()), timeout=s.tool_timeout)
    ctx.resources.push_async_callback(registry.aclose)
    ctx.replies.tools = ReplyTools(registry)  # Parlay's tools in replies
    return registry
