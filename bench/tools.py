"""Tool latency: the sandbox and the scraper, alone and through /v1/mcp, with references.

    .venv/bin/python bench/tools.py [--runs 50]

- sandbox: `print(1)` in the bubblewrap sandbox vs the same interpreter started bare
  (`python3 -I -c "print(1)"`), so the sandbox's own cost shows as a difference;
- scraper: one article page on loopback through web_scraper (SSRF guard, fetch, readability,
  html2text) vs the extraction alone (readability + html2text on the same bytes);
- end to end: code_executor `print(1)` as an MCP tools/call to `parlay serve` (SDK client,
  stateless JSON), and a tools/list, vs `GET /healthz` on the same server.
Runs alternate between each pair so background load hits both alike. Prints p50 and p90.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from parlay.tools.netguard import AddressPolicy
from parlay.tools.sandbox import BwrapSandbox, find_python, sandbox_from_spec
from parlay.tools.scraper import WebScraper, extract_article
from support.mock_upstream import serve_asgi
from support.server import ParlayProcess
from support.tool_servers import website

Timed = Callable[[], Awaitable[object]]


async def pair(runs: int, a: Timed, b: Timed) -> tuple[list[float], list[float]]:
    ta, tb = [], []
    for _ in range(runs):
        for fn, out in ((a, ta), (b, tb)):
            started = time.perf_counter()
            await fn()
            out.append((time.perf_counter() - started) * 1000)
    return ta, tb


def show(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"  {name:<44} p50 {statistics.median(ms):7.1f} ms   p90 {ms[int(len(ms) * 0.9)]:7.1f} ms")


async def bench_sandbox(runs: int) -> None:
    sandbox, reason = await sandbox_from_spec("bwrap")
    if not isinstance(sandbox, BwrapSandbox):
        print(f"sandbox: unavailable ({reason})")
        return
    python = find_python()

    async def bare() -> None:
        proc = await asyncio.create_subprocess_exec(python, "-I", "-c", "print(1)",
                                                    stdout=asyncio.subprocess.PIPE)
        await proc.communicate()

    sandboxed, plain = await pair(runs, lambda: sandbox.run("print(1)", 10), bare)
    print("sandbox, print(1):")
    show("bubblewrap sandbox", sandboxed)
    show("bare python3 -I (reference)", plain)


async def bench_scraper(runs: int) -> None:
    async with serve_asgi(website()) as url:
        page = url.replace("127.0.0.1", "localhost") + "/article"
        scraper = WebScraper(AddressPolicy(["localhost"]))
        async with aiohttp.ClientSession() as http, http.get(page) as response:
            body = await response.read()

        async def extract() -> None:
            extract_article(body, "utf-8")

        scraped, extracted = await pair(runs, lambda: scraper.scrape(page), extract)
        await scraper.aclose()
    print("scraper, one article on loopback:")
    show("web_scraper (guard + fetch + extract)", scraped)
    show("extraction alone (reference)", extracted)


async def bench_mcp(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        parlay = ParlayProcess({"PARLAY_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                                "PARLAY_LOG_LEVEL": "error"}).start()
        try:
            async with httpx.AsyncClient(base_url=parlay.url) as http:
                token = (await http.post("/llm/auth/guest-login")).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                await http.patch("/v1/users/me/settings", headers=auth, json={
                    "advanced_settings": {"code_execution_enabled": True}})
                mcp_http = httpx2.AsyncClient(headers=auth, timeout=httpx2.Timeout(60))
                transport = streamable_http_client(f"{parlay.url}/v1/mcp", http_client=mcp_http)
                async with mcp_http, Client(transport, cache=None) as mcp:
                    async def call() -> None:
                        result = await mcp.call_tool("code_executor", {"code": "print(1)"})
                        assert not result.is_error, result

                    tool, health = await pair(runs, call, lambda: http.get("/healthz"))
                    listed, _ = await pair(runs, mcp.list_tools, lambda: http.get("/healthz"))
        finally:
            parlay.stop()
    print("end to end, parlay serve (1 worker, SQLite):")
    show("MCP tools/call code_executor print(1)", tool)
    show("MCP tools/list (no tool runs)", listed)
    show("GET /healthz (reference)", health)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    await bench_sandbox(args.runs)
    await bench_scraper(args.runs)
    await bench_mcp(args.runs)


if __name__ == "__main__":
    asyncio.run(main())
