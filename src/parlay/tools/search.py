"""web_search backends over plain HTTP: SearXNG, Brave, Tavily, Serper.

Each turns a query into a list of {title, url, snippet}. The backend is picked by
configuration (the first configured of SearXNG, Brave, Tavily, Serper); with none configured
web_search is unavailable, never answered from nowhere. The backends are the operator's
own choice, so the SSRF guard does not apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from parlay.tools.base import ToolFailure, ToolOutput

MAX_RESULTS = 10


@dataclass(frozen=True, slots=True)
class SearchResult:
    title: str
    url: str
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchBackend:
    """One configured search API. `kind` picks the request and response shapes."""

    kind: str  # searxng | brave | tavily | serper
    base_url: str
    api_key: str | None = None

    def request(self, query: str, count: int) -> dict[str, Any]:
        """aiohttp.request keyword arguments for this backend."""
        base = self.base_url.rstrip("/")
        if self.kind == "searxng":
            return {"method": "GET", "url": f"{base}/search",
                    "params": {"q": query, "format": "json"}}
        if self.kind == "brave":
            return {"method": "GET", "url": f"{base}/res/v1/web/search",
                    "params": {"q": query, "count": str(count)},
                    "headers": {"X-Subscription-Token": self.api_key or "",
                                "Accept": "application/json"}}
        if self.kind == "tavily":
            return {"method": "POST", "url": f"{base}/search",
                    "json": {"query": query, "max_results": count},
                    "headers": {"Authorization": f"Bearer {self.api_key}"}}
        if self.kind == "serper":
            return {"method": "POST", "url": f"{base}/search", "json": {"q": query, "num": count},
                    "headers": {"X-API-KEY": self.api_key or ""}}
        raise ValueError(f"unknown search backend {self.kind!r}")

    def results(self, body: dict[str, Any]) -> list[SearchResult]:
        if self.kind == "searxng":
            rows, keys = body.get("results"), ("title", "url", "content")
        elif self.kind == "brave":
            rows, keys = (body.get("web") or {}).get("results"), ("title", "url", "description")
        elif self.kind == "tavily":
            rows, keys = body.get("results"), ("title", "url", "content")
        else:
            rows, keys = body.get("organic"), ("title", "link", "snippet")
        found = []
        for row in rows or []:
            if isinstance(row, dict) and isinstance(row.get(keys[1]), str):
                found.append(SearchResult(str(row.get(keys[0]) or ""), row[keys[1]],
                                          str(row.get(keys[2]) or "")))
        return found


DEFAULT_URLS = {"brave": "https://api.search.brave.com", "tavily": "https://api.tavily.com",
                "serper": "https://google.serper.dev"}


def pick_backend(*, searxng_url: str | None, brave_key: str | None, tavily_key: str | None,
                 serper_key: str | None) -> SearchBackend | None:
    if searxng_url:
        return SearchBackend("searxng", searxng_url)
    for kind, key in (("brave", brave_key), ("tavily", tavily_key), ("serper", serper_key)):
        if key:
            return SearchBackend(kind, DEFAULT_URLS[kind], key)
    return None


class WebSearch:
    def __init__(self, backend: SearchBackend, timeout: float = 15.0) -> None:
        self.backend = backend
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def search(self, query: str, max_results: int = 5) -> ToolOutput:
        query = query.strip()
        if not query:
            raise ToolFailure("invalid_arguments", "query must not be empty")
        count = max(1, min(max_results, MAX_RESULTS))
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=False)
        try:
            async with self._session.request(**self.backend.request(query, count)) as response:
                if response.status >= 400:
                    raise ToolFailure("search_failed", f"the {self.backend.kind} search backend "
                                      f"answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except TimeoutError:
            raise ToolFailure("search_failed", f"the {self.backend.kind} search backend did "
                              "not answer in time") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise ToolFailure("search_failed", f"the {self.backend.kind} search backend "
                              f"failed: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise ToolFailure("search_failed", "the search backend answered no JSON object")
        results = self.backend.results(body)[:count]
        return ToolOutput(text=_as_text(query, results), data={
            "query": query, "backend": self.backend.kind,
            "results": [{"title": r.title, "url": r.url, "snippet": r.snippet}
                        for r in results]})


def _as_text(query: str, results: list[SearchResult]) -> str:
    if not results:
        return f"No results for {query!r}."
    lines = [f"Search results for {query!r}:"]
    for n, r in enumerate(results, 1):
        lines.append(f"{n}. {r.title}\n   {r.url}\n   {r.snippet}".rstrip())
    return "\n".join(lines)
