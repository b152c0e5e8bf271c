"""The web app in a real browser: one `parlay serve` process (SQLite, the loopback mock
upstream, a loopback SearXNG-shaped search backend and web site for the web tools) and one
headless Chromium for every test here; each test gets a fresh browser
context (no cookies, storage or cache) and fails on any console error or uncaught exception.

These tests run once, not per database backend: the app only talks HTTP to the API, whose
behaviour on both backends the rest of the suite covers."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.browser import CHROMIUM, CHROMIUM_ARGS, PageWatch, chromium_or_reason, fresh_artifacts
from support.mock_upstream import MockUpstream
from support.server import ParlayProcess
from support.tool_servers import SearchApis, serving, website

ADMIN_KEY = "e2e-admin-" + secrets.token_hex(8)


@dataclass
class Web:
    url: str
    artifacts: Path
    browser: Any
    api: httpx.AsyncClient
    shots: list[Path]
    site: str = ""  # a loopback web site the scraper may read (tool_servers.website)

    async def screenshot(self, page: Any, name: str) -> Path:
        path = self.artifacts / f"{len(self.shots) + 1:02d}-{name}.png"
        await page.screenshot(path=str(path))
        self.shots.append(path)
        return path

    async def guest_headers(self) -> dict[str, str]:
        token = (await self.api.post("/llm/auth/guest-login")).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="package")  # stopped once the last browser test ran
async def web(mock_upstream: MockUpstream,
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Web]:
    reason = chromium_or_reason()
    if reason:
        pytest.fail(reason)
    from playwright.async_api import async_playwright

    data = tmp_path_factory.mktemp("webapp")
    async with contextlib.AsyncExitStack() as stack:
        search = await stack.enter_async_context(serving(SearchApis().app()))
        site = await stack.enter_async_context(serving(website()))
        server = ParlayProcess({
            "PARLAY_DATABASE_URL": f"sqlite:///{data}/parlay.db",
            "OPENAI_BASE_URL": mock_upstream.url, "OPENAI_API_KEY": "mock-key",
            "PARLAY_ADMIN_API_KEY": ADMIN_KEY,
            "PARLAY_SEARXNG_URL": search, "PARLAY_WEB_ALLOWED_HOSTS": "127.0.0.1",
        })
        starting = asyncio.ensure_future(asyncio.to_thread(server.start))  # meanwhile: Chromium

        async def stop_server() -> None:
            with contextlib.suppress(Exception):
                await starting
            await asyncio.to_thread(server.stop)

        stack.push_async_callback(stop_server)
        playwright = await async_playwright().start()
        stack.push_async_callback(playwright.stop)
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.push_async_callback(browser.close)
        await starting
        web = Web(server.url, fresh_artifacts(), browser,
                  httpx.AsyncClient(base_url=server.url, timeout=30), [], site)
        stack.push_async_callback(web.api.aclose)
        SCREENSHOTS.append(web)
        yield web


SCREENSHOTS: list[Web] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for web in SCREENSHOTS:
        if web.shots:
            terminalreporter.write_line(f"web app screenshots ({len(web.shots)}): {web.artifacts}")


NewPage = Callable[..., Awaitable[tuple[Any, PageWatch]]]


@pytest.fixture
async def new_page(web: Web) -> AsyncIterator[NewPage]:
    """new_page(width=1280, height=800) -> (page, watch) in a fresh context; at the end of
    the test every page must have logged no console error and thrown nothing."""
    opened: list[tuple[Any, PageWatch]] = []

    async def make(width: int = 1280, height: int = 800, **options: Any) -> tuple[Any, PageWatch]:
        context = await web.browser.new_context(
            viewport={"width": width, "height": height}, base_url=web.url, **options)
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
        page = await context.new_page()
        page.set_default_timeout(10_000)
        watch = PageWatch()
        watch.attach(page)
        opened.append((page, watch))
        return page, watch

    yield make
    problems = []
    for page, watch in opened:
        problems += watch.unexpected()
        problems += [f"dialog opened: {d}" for d in watch.dialogs]
        await page.context.close()
    assert not problems, problems
