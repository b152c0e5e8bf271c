"""Real loopback servers the tool tests talk to: a web site with an article and redirects,
search APIs shaped like SearXNG/Brave/Tavily/Serper, a SandboxFusion-shaped code runner,
and an external MCP server built with the mcp SDK."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from support.mock_upstream import serve_asgi

ARTICLE = """<!doctype html><html><head><title>Growing Tomatoes at Home | Garden Site</title>
</head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/shop">Shop NAVMARK</a></li>
<li><a href="/about">About</a></li></ul></nav></header>
<div class="sidebar"><h3>Related SIDEBARMARK</h3><ul><li><a href="/x">Other post</a></li>
<li><a href="/y">Another post</a></li></ul></div>
<div id="content"><h1>Growing Tomatoes at Home</h1>
<p>Tomatoes are one of the most rewarding plants to grow in a home garden. This guide walks
you through choosing varieties, preparing the soil, planting and caring for your plants
through the season, with practical advice from years of experience.</p>
<h2>Choosing a variety</h2>
<p>There are hundreds of tomato varieties. Determinate types stay compact while
indeterminate types keep growing all season long and need strong support structures.</p>
<ul><li>Cherry tomatoes LISTMARK1</li><li>Beefsteak tomatoes LISTMARK2</li>
<li>Roma tomatoes for sauce</li></ul>
<h2>Watering schedule</h2>
<p>Water deeply and consistently. Irregular watering leads to cracked fruit and blossom end
rot, which is the most common problem home gardeners face with tomatoes.</p>
<table><tr><th>Month</th><th>Litres per week TABLEHEAD</th></tr><tr><td>May</td><td>10</td>
</tr><tr><td>July</td><td>25 TABLECELL</td></tr></table>
<p>Harvest when the fruit is fully coloured and slightly soft to the touch. Enjoy your
tomatoes fresh, roasted or preserved for the winter months ahead.</p>
</div>
<footer><p>Copyright 2026 FOOTERMARK. All rights reserved.</p></footer>
</body></html>"""

SEARCH_HITS = [
    {"title": "Tomato growing guide", "url": "https://garden.example/tomatoes",
     "content": "Everything about tomatoes"},
    {"title": "Soil for tomatoes", "url": "https://garden.example/soil",
     "content": "Prepare the soil"},
    {"title": "Watering", "url": "https://garden.example/water", "content": "Water deeply"},
]


def website() -> Starlette:
    async def article(_: Request) -> Response:
        return HTMLResponse(ARTICLE)

    async def redirect(request: Request) -> Response:
        return Response(status_code=302, headers={"Location": request.query_params["to"]})

    async def loop(request: Request) -> Response:
        n = int(request.path_params["n"])
        return Response(status_code=301, headers={"Location": f"/loop/{n + 1}"})

    async def big(_: Request) -> Response:
        return PlainTextResponse("word " * 2_000_000)  # 10 MB

    async def binary(_: Request) -> Response:
        return Response(b"\x89PNG" + b"\x00" * 100, media_type="image/png")

    return Starlette(routes=[Route("/article", article), Route("/redirect", redirect),
                             Route("/loop/{n}", loop), Route("/big", big),
                             Route("/binary", binary)])


class SearchApis:
    """One app answering the four backends' request shapes; remembers what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def searxng(request: Request) -> Response:
            self.requests.append({"kind": "searxng", "query": dict(request.query_params)})
            if request.query_params.get("format") != "json":
                return PlainTextResponse("html", status_code=403)
            q = request.query_params["q"]
            return JSONResponse({"query": q, "results": [
                {**hit, "title": f"{hit['title']} ({q})"} for hit in SEARCH_HITS]})

        async def brave(request: Request) -> Response:
            self.requests.append({"kind": "brave", "query": dict(request.query_params),
                                  "token": request.headers.get("x-subscription-token")})
            return JSONResponse({"web": {"results": [
                {"title": h["title"], "url": h["url"], "description": h["content"]}
                for h in SEARCH_HITS]}})

        async def tavily_or_serper(request: Request) -> Response:
            body = await request.json()
            if "query" in body:
                self.requests.append({"kind": "tavily", "body": body,
                                      "auth": request.headers.get("authorization")})
                return JSONResponse({"results": SEARCH_HITS})
            self.requests.append({"kind": "serper", "body": body,
                                  "key": request.headers.get("x-api-key")})
            return JSONResponse({"organic": [
                {"title": h["title"], "link": h["url"], "snippet": h["content"]}
                for h in SEARCH_HITS]})

        return Starlette(routes=[Route("/search", searxng, methods=["GET"]),
                                 Route("/res/v1/web/search", brave),
                                 Route("/search", tavily_or_serper, methods=["POST"])])


def sandbox_fusion() -> Starlette:
    """Answers POST /run_code in SandboxFusion's shape for a few known snippets."""

    async def run_code(request: Request) -> Response:
        body = await request.json()
        if body.get("language") != "python":
            return JSONResponse({"status": "SandboxError", "message": "unknown language"})
        if body["code"] == "print(6 * 7)":
            run = {"status": "Finished", "return_code": 0, "stdout": "42\n", "stderr": ""}
        else:
            run = {"status": "TimeLimitExceeded", "return_code": None, "stdout": "",
                   "stderr": ""}
        return JSONResponse({"status": "Success" if run["return_code"] == 0 else "Failed",
                             "message": "", "compile_result": None, "run_result": run})

    return Starlette(routes=[Route("/run_code", run_code, methods=["POST"])])


REMOTE_TOKEN = "remote-secret-token"


def remote_mcp_app() -> Any:
    """An external MCP server (the SDK's MCPServer) that requires a bearer token."""
    server = MCPServer("remote-test", log_level="WARNING")

    @server.tool(description="Adds two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Upper-cases a text.")
    def shout(text: str) -> str:
        return text.upper()

    @server.tool(description="A tool the admin does not allow.")
    def forbidden() -> str:
        return "should never run"

    inner = server.streamable_http_app(stateless_http=True, json_response=True)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != f"Bearer {REMOTE_TOKEN}".encode():
                await PlainTextResponse("no token", status_code=401)(scope, receive, send)
                return
        await inner(scope, receive, send)

    return app


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    async with serve_asgi(app) as url:
        yield url
