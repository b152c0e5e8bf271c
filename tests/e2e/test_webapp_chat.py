"""The chat in a real browser: first load, guest sign-in, streaming with Stop, Markdown,
XSS, regenerate (streamed in place, with Stop) with versions, edit and delete, reload,
keyboard-only use, 375 px."""

from __future__ import annotations

import asyncio

from support.browser import (
    app_ready,
    has_horizontal_scroll,
    replies_count,
    send,
    sign_in_as_guest,
    until,
    wait_for_replies,
)

FIRST_LOAD_BUDGET = 150 * 1024  # bytes on the wire (gzip), every request of a cold first load
INTERACTIVE_BUDGET_MS = 1000


async def _cold_load(web, new_page, shot: str | None = None) -> tuple[int, float, int, list[str]]:
    """Load / in a fresh context (empty cache): bytes on the wire, ms to the app's ready
    mark, requests finished, every URL requested."""
    page, _ = await new_page()
    transferred: dict[str, int] = {}
    measuring: list[asyncio.Task[None]] = []
    requests: list[str] = []

    async def measure(request) -> None:
        sizes = await request.sizes()
        transferred[request.url] = sizes["responseBodySize"] + sizes["responseHeadersSize"]

    page.on("requestfinished", lambda r: measuring.append(asyncio.ensure_future(measure(r))))
    page.on("request", lambda request: requests.append(request.url))
    await page.goto("/")
    await app_ready(page)
    await page.wait_for_load_state("networkidle")
    await asyncio.gather(*measuring)
    ready_ms = await page.evaluate("performance.getEntriesByName('parlay-ready')[0].startTime")
    if shot:
        await web.screenshot(page, shot)
    return sum(transferred.values()), ready_ms, len(transferred), requests


async def test_first_load_is_small_and_fast(web, new_page) -> None:
    # A browser that is already running (its first navigation ever starts its network
    # process); then three cold loads of the app, each in a fresh context with an empty
    # cache. Time is judged on the best of three: the box is shared and noisy.
    warm, _ = await new_page()
    await warm.goto("/healthz")
    loads = [await _cold_load(web, new_page, "sign-in" if i == 0 else None) for i in range(3)]
    total, _, count, requests = loads[0]
    times = [round(load[1]) for load in loads]
    print(f"first load: {count} requests, {total} bytes, interactive at {times} ms")
    assert all(url.startswith(web.url) for url in requests), "nothing may come from elsewhere"
    assert count == len(requests) >= 10  # the page, styles, modules, libraries
    assert all(load[0] < FIRST_LOAD_BUDGET for load in loads), total
    assert min(times) < INTERACTIVE_BUDGET_MS, times


async def test_guest_sends_a_message_and_sees_it_stream(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    box = page.get_by_role("textbox", name="Message")
    await box.fill("!slow 0.08 tell me a story about a brave little server that kept going")
    await page.get_by_role("button", name="Send").click()
    streaming = page.locator("article.streaming")
    await page.get_by_role("button", name="Stop").wait_for()
    await streaming.locator(".message-body").filter(has_text="echo:").wait_for()
    early = await streaming.locator(".message-body").inner_text()
    await page.wait_for_timeout(400)
    later = await streaming.locator(".message-body").inner_text()
    assert len(later) > len(early) > 0  # tokens arrive one by one
    assert "kept going" not in early
    await web.screenshot(page, "streaming")
    reply = await wait_for_replies(page, 1)
    assert (await reply.inner_text()).count("kept going") == 1
    assert await reply.get_attribute("data-status") == "completed"
    user = page.locator('article[data-role="user"]')
    assert await user.count() == 1 and "brave little server" in await user.inner_text()
    chats = page.get_by_role("navigation", name="Conversations").get_by_role("link")
    await chats.filter(has_text="!slow 0.08 tell me a story").wait_for()


async def test_stop_keeps_what_arrived_and_retry_answers_again(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await page.get_by_role("textbox", name="Message").fill(
        "!slow 0.15 " + " ".join(f"word{i}" for i in range(40)))
    await page.get_by_role("button", name="Send").click()
    await page.locator("article.streaming .message-body").filter(has_text="word2").wait_for()
    await page.get_by_role("button", name="Stop").click()
    reply = await wait_for_replies(page, 1)
    assert await reply.get_attribute("data-status") == "incomplete"
    assert "word39" not in await reply.inner_text()
    await reply.get_by_text("This reply is incomplete.").wait_for()
    await web.screenshot(page, "stopped")
    await reply.get_by_role("button", name="Retry").click()
    await page.locator('article[data-role="assistant"][data-status="completed"]').wait_for()
    reply = page.locator('article[data-role="assistant"]').last
    assert "word39" in await reply.inner_text()
    await reply.get_by_text("2/2").wait_for()


async def test_regenerate_streams_in_place_and_can_be_stopped(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await send(page, "first question")
    words = " ".join(f"part{i}" for i in range(14))
    await send(page, f"!slow 0.1 {words}")
    replies = page.locator('article[data-role="assistant"]')
    await replies.last.get_by_role("button", name="Regenerate").click()
    streaming = page.locator("article.streaming")
    await page.get_by_role("button", name="Stop").wait_for()
    await streaming.locator(".message-body").filter(has_text="echo:").wait_for()
    early = await streaming.locator(".message-body").inner_text()
    assert "part13" not in early
    # In the old reply's place: still two replies, the second one streaming.
    assert await replies.count() == 2 and "streaming" in await replies.nth(1).get_attribute("class")
    await page.wait_for_timeout(300)
    assert len(await streaming.locator(".message-body").inner_text()) > len(early)
    await web.screenshot(page, "regenerate-streaming")
    await replies.last.get_by_text("2/2").wait_for()
    reply = replies.last
    assert await reply.get_attribute("data-status") == "completed"
    assert "part13" in await reply.inner_text()
    assert await page.get_by_role("button", name="Send").is_visible()
    # Stopped while it streams: what arrived is kept as the third version.
    await reply.get_by_role("button", name="Regenerate").click()
    await streaming.locator(".message-body").filter(has_text="part1").wait_for()
    await page.get_by_role("button", name="Stop").click()
    await replies.last.get_by_text("3/3").wait_for()
    stopped = replies.last
    assert await stopped.get_attribute("data-status") == "incomplete"
    assert "part13" not in await stopped.inner_text()
    await stopped.get_by_role("button", name="Previous version").click()
    await replies.last.get_by_text("2/3").wait_for()
    assert "part13" in await replies.last.inner_text()


async def test_markdown_renders_with_highlighted_code_and_copy(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    reply = await send(page, "!markdown Compare typing in Python and Rust, with an example")
    body = reply.locator(".message-body")
    await body.locator("h2", has_text="Plan").wait_for()
    assert await body.locator("strong", has_text="bold").count() == 1
    assert await body.locator("em", has_text="italic").count() == 1
    assert await body.locator("ul > li").count() == 2
    assert await body.locator("table tbody tr").count() == 2
    code = body.locator("pre code")
    await body.locator("pre code.hljs .hljs-keyword", has_text="def").wait_for()  # grammar loaded
    assert "def greet" in await code.inner_text()
    await body.get_by_role("button", name="Copy code").click()
    assert "return f\"hello {name}\"" in await page.evaluate("navigator.clipboard.readText()")
    assert "**" not in await body.inner_text()
    await web.screenshot(page, "markdown")


async def test_html_and_script_in_messages_and_replies_never_run(web, new_page) -> None:
    page, watch = await new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(web.url) else None)
    await sign_in_as_guest(page)
    payload = ('<img src=x onerror="window.__xss=\'user\'"><script>window.__xss=\'user-script\''
               '</script><svg onload="alert(1)"></svg>')
    echoed = await send(page, payload)  # the mock echoes it back: in the reply too
    reply = await send(page, "!xss")
    messages = page.locator(".messages")
    assert await page.evaluate("window.__xss") is None
    assert watch.dialogs == []
    for tag in ("img", "script", "svg", "iframe", "object", "embed", "style"):
        assert await messages.locator(tag).count() == 0, (tag, await reply.inner_html())
    assert await messages.locator("[onerror], [onload], [onclick], [style]").count() == 0
    hrefs = await messages.locator("a").evaluate_all("links => links.map(a => a.href)")
    # The javascript: link lost its href; the image became a link; a web link stays one.
    assert sorted(hrefs) == ["", "https://example.org/docs", "https://tracker.example/pixel.png"]
    # What was sent is shown as text, not dropped.
    assert '<img src=x onerror="window.__xss=' in await page.locator('article[data-role="user"]').first.inner_text()
    assert "<script>window.__xss" in await echoed.inner_text()
    assert "<script>window.__xss = 'script'</script>" in await reply.inner_text()
    assert outside == []  # the remote image was not fetched
    await web.screenshot(page, "xss-as-text")


async def test_regenerate_shows_versions_and_reload_keeps_the_chat(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await send(page, "first question")
    await send(page, "second question")
    reply = page.locator('article[data-role="assistant"]').last
    await reply.get_by_role("button", name="Regenerate").click()
    await page.locator('article[data-role="assistant"]').last.get_by_text("2/2").wait_for()
    reply = page.locator('article[data-role="assistant"]').last
    await reply.get_by_role("button", name="Previous version").click()
    await page.locator('article[data-role="assistant"]').last.get_by_text("1/2").wait_for()
    await web.screenshot(page, "versions")
    url = page.url
    await page.reload()
    await app_ready(page)
    assert page.url == url and "#/c/conv_" in url
    await page.locator('article[data-role="assistant"]').last.get_by_text("2/2").wait_for()
    users = page.locator('article[data-role="user"]')
    assert [await u.locator(".message-body").inner_text() for u in await users.all()] == [
        "first question", "second question"]

    # Edit the first question and re-run: its reply is answered again from the new text.
    first = users.first
    await first.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit message")
    await editor.fill("first question, edited")
    await page.get_by_role("button", name="Save and resend").click()
    first_reply = page.locator('article[data-role="assistant"]').first
    await first_reply.get_by_text("echo: first question, edited").wait_for()
    await first_reply.get_by_text("2/2").wait_for()

    # Delete the second question.
    await users.nth(1).get_by_role("button", name="Delete this message").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await until(page, "document.querySelectorAll('article[data-role=\"user\"]').length === 1")
    assert await replies_count(page) == 2


async def test_keyboard_only(web, new_page) -> None:
    page, _ = await new_page()
    await page.goto("/")
    await app_ready(page)
    assert await page.evaluate("document.activeElement.textContent") == "Continue as guest"
    await page.keyboard.press("Enter")
    box = page.get_by_role("textbox", name="Message")
    await box.wait_for()
    await until(page, "document.activeElement.getAttribute('aria-label') === 'Message'")
    await page.keyboard.type("typed with keys")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("on a second line")
    await page.keyboard.press("Enter")
    reply = await wait_for_replies(page, 1)
    user = page.locator('article[data-role="user"] .message-body')
    assert await user.inner_text() == "typed with keys\non a second line"
    assert "on a second line" in await reply.inner_text()
    # Focus is visible: Tab from the box reaches the Send button, which shows an outline.
    await box.focus()
    await page.keyboard.press("Tab")
    focused = await page.evaluate(
        "[document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]")
    assert focused == ["Send", "solid"], focused
    await web.screenshot(page, "keyboard-focus")


async def test_narrow_screen_has_no_horizontal_scroll(web, new_page) -> None:
    page, _ = await new_page(width=375, height=740, reduced_motion="reduce", color_scheme="dark")
    await page.goto("/")
    await app_ready(page)
    assert not await has_horizontal_scroll(page)
    await sign_in_as_guest(page)
    await send(page, "a long line " + "without_any_breaks_" * 20)
    await send(page, "!markdown How do Python and Rust differ in typing?")
    assert not await has_horizontal_scroll(page)
    await web.screenshot(page, "narrow-chat")
    await page.get_by_role("button", name="Show chats").click()
    await page.get_by_role("link", name="a long line").wait_for()
    assert not await has_horizontal_scroll(page)
    await web.screenshot(page, "narrow-drawer")
    await page.get_by_role("button", name="Settings").click()
    await page.get_by_role("dialog", name="Settings").wait_for()
    assert not await has_horizontal_scroll(page)


async def test_a_failed_reply_says_so_and_can_be_retried(web, new_page) -> None:
    page, watch = await new_page()
    watch.allow(r"status of 502")  # the browser logs the API's 502 itself
    await sign_in_as_guest(page)
    await page.get_by_role("textbox", name="Message").fill("!status 500")
    await page.get_by_role("button", name="Send").click()
    notice = page.locator(".unanswered")
    await notice.get_by_text("No reply:").wait_for()
    assert "failed (HTTP 500)" in await notice.inner_text()
    user = page.locator('article[data-role="user"]')
    assert await user.locator(".message-body").inner_text() == "!status 500"  # kept
    await web.screenshot(page, "failed-reply")
    await notice.get_by_role("button", name="Retry").click()  # the upstream still fails
    await page.locator(".toast.error").first.wait_for()
    await user.get_by_role("button", name="Edit").click()
    await page.get_by_role("textbox", name="Edit message").fill("works now")
    await page.get_by_role("button", name="Save and resend").click()
    reply = await wait_for_replies(page, 1)
    assert "echo: works now" in await reply.inner_text()
    assert await notice.count() == 0
