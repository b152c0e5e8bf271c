"""web_search backends over plain HTTP, each against a loopback server of its shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from parlay.tools.base import ToolFailure
from parlay.tools.search import SearchBackend, WebSearch, pick_backend
from support.tool_servers import SearchApis, serving


@pytest.fixture(scope="module")
async def apis() -> AsyncIterator[tuple[SearchApis, str]]:
    api = SearchApis()
    async with serving(api.app()) as url:
        yield api, url


@pytest.mark.parametrize("kind", ["searxng", "brave", "tavily", "serper"])
async def test_each_backend_returns_results(apis: tuple[SearchApis, str], kind: str) -> None:
    api, url = apis
    search = WebSearch(SearchBackend(kind, url, None if kind == "searxng" else "key-123"))
    try:
        found = await search.search("tomatoes", max_results=2)
    finally:
        await search.aclose()
    results = found.data["results"]
    assert len(results) == 2 and results[0]["url"] == "https://garden.example/tomatoes"
    assert results[0]["snippet"] == "Everything about tomatoes"
    assert "1. Tomato growing guide" in found.text and found.data["backend"] == kind
    sent = api.requests[-1]
    assert sent["kind"] == kind
    if kind == "searxng":
        assert sent["query"] == {"q": "tomatoes", "format": "json"}
    elif kind == "brave":
        assert sent["token"] == "key-123" and sent["query"]["count"] == "2"
    elif kind == "tavily":
        assert sent["auth"] == "Bearer key-123" and sent["body"]["max_results"] == 2
    else:
        assert sent["key"] == "key-123" and sent["body"] == {"q": "tomatoes", "num": 2}


def test_backend_choice() -> None:
    assert pick_backend(searxng_url=None, brave_key=None, tavily_key=None,
                        serper_key=None) is None
    assert pick_backend(searxng_url="http://s", brave_key="b", tavily_key=None,
                        serper_key=None).kind == "searxng"
    assert pick_backend(searxng_url=None, brave_key=None, tavily_key="t",
                        serper_key="s").kind == "tavily"


async def test_backend_down_is_a_clear_failure() -> None:
    search = WebSearch(SearchBackend("searxng", "http://127.0.0.1:9"))
    try:
        with pytest.raises(ToolFailure) as failed:
            await search.search("x")
        with pytest.raises(ToolFailure) as empty:
            await search.search("   ")
    finally:
        await search.aclose()
    assert failed.value.code == "search_failed"
    assert empty.value.code == "invalid_arguments"
