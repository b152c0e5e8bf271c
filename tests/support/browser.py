"""Headless Chromium for the web app's end-to-end tests: Debian's /usr/bin/chromium driven by
Python Playwright (never `playwright install`), pages that record console errors, screenshots
saved as test artifacts."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("PARLAY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "webapp"


def chromium_or_reason() -> str | None:
    """None when Chromium can run here, else why not (the tests fail with it, never skip)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"Chromium not found at {CHROMIUM}: the web app's browser tests need it. "
                "Install it with `apt-get install -y chromium` (.ci/run does this).")
    return None


def fresh_artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class PageWatch:
    """What a page said that it should not have: console errors and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def attach(self, page: Any) -> None:
        page.on("console", lambda msg: self._console(msg))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("dialog", lambda dialog: self._dialog(dialog))

    def allow(self, pattern: str) -> None:
        """Expect one kind of console error (e.g. the 401 a test provokes on purpose)."""
        self.allowed.append(re.compile(pattern))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} ({msg.location.get('url', '')})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        task = asyncio.ensure_future(dialog.dismiss())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


# -- flows the web app tests share -----------------------------------------------------------

async def sign_in_as_guest(page: Any) -> None:
    await page.goto("/")
    await page.get_by_role("button", name="Continue as guest").click()
    await page.get_by_role("textbox", name="Message").wait_for()
    await app_ready(page)


REPLIES = 'article[data-role="assistant"]:not(.streaming)'


async def replies_count(page: Any) -> int:
    return await page.locator(REPLIES).count()


async def wait_for_replies(page: Any, count: int) -> Any:
    """Wait until `count` stored replies are shown (the streaming one is not counted: stored
    replies appear once the stream ended and the chat was reloaded); the last reply."""
    await page.locator(REPLIES).nth(count - 1).wait_for(state="attached")
    return page.locator(REPLIES).last


async def until(page: Any, expression: str, seconds: float = 10.0) -> Any:
    """Poll a page expression until it is truthy. (page.wait_for_function compiles its
    predicate with eval, which the app's CSP rightly refuses.)"""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still false after {seconds}s: {expression}")
        await asyncio.sleep(0.05)


async def app_ready(page: Any) -> None:
    await page.locator("html[data-ready='true']").wait_for(state="attached")


async def send(page: Any, text: str) -> Any:
    """Send `text` with the Send button; returns the new reply once it is stored and shown."""
    before = await replies_count(page)
    await page.get_by_role("textbox", name="Message").fill(text)
    await page.get_by_role("button", name="Send").click()
    return await wait_for_replies(page, before + 1)


async def session_headers(page: Any) -> dict[str, str]:
    """The signed-in browser's own bearer, to arrange data through the API."""
    token = await page.evaluate("JSON.parse(localStorage.getItem('parlay.session')).access_token")
    return {"Authorization": f"Bearer {token}"}


async def has_horizontal_scroll(page: Any) -> bool:
    return await page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        " || document.body.scrollWidth > document.documentElement.clientWidth")
