"""Replies that run Parlay's tools, in the app: the steps show while the reply streams (the
stream's `parlay_item` events) and stay once it is stored; web search (a loopback
SearXNG-shaped backend) and the scraper (a loopback page with boilerplate) as results and a
page excerpt; a reply stopped for a tool call's approval is approved in place and continued,
the continued reply streaming its next tool step."""

from __future__ import annotations

from support.browser import session_headers, sign_in_as_guest, until, wait_for_replies

CODE = '!tool code_executor {"code": "print(6 * 7)"}'
# After the first call (approved), the model calls the tool again, then answers.
CHAIN = ('!toolchain code_executor {"code": "print(6 * 7)"} >> '
         'code_executor {"code": "print(7 * 8)"}')
WATCH_STREAMED_STEPS = """() => {
    window.__streamedStep = false;
    new MutationObserver((changes, observer) => {
        if (document.querySelector('.streaming .streaming-steps details[data-role="tool"]')) {
            window.__streamedStep = true;
            observer.disconnect();
        }
    }).observe(document.querySelector('.messages'), {childList: true, subtree: true});
}"""


async def test_web_search_and_page_read_in_a_reply(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await web.api.patch("/v1/users/me/settings", headers=await session_headers(page),
                        json={"advanced_settings": {"web_search_enabled": True}})
    article = f"{web.site}/article"
    await page.get_by_role("textbox", name="Message").fill(
        f'!tool web_search {{"query": "tomatoes"}} ;; web_scraper {{"url": "{article}"}}')
    await page.get_by_role("button", name="Send").click()
    reply = await wait_for_replies(page, 1)
    await reply.get_by_text("tool said:").wait_for()
    steps = page.locator('.messages details[data-role="tool"]')
    assert [await s.get_attribute("data-state") for s in await steps.all()] == ["completed"] * 2
    search, scraped = steps.nth(0), steps.nth(1)
    assert await search.locator("> summary").inner_text() == "Searched the web for “tomatoes”"
    await search.locator("> summary").click()
    link = search.get_by_role("link", name="Tomato growing guide (tomatoes)")
    assert await link.get_attribute("href") == "https://garden.example/tomatoes"
    assert await search.locator(".search-results > li").count() == 3
    await scraped.locator("> summary").click()
    assert "Growing Tomatoes at Home" in await scraped.locator(".page-title").inner_text()
    excerpt = scraped.locator(".excerpt")
    assert "rewarding plants" in await excerpt.inner_text()
    await scraped.get_by_text("The whole text").click()
    whole = await scraped.locator(".scraped").inner_text()
    assert "LISTMARK1" in whole and "TABLECELL" in whole
    assert "NAVMARK" not in whole and "FOOTERMARK" not in whole  # boilerplate dropped
    await web.screenshot(page, "reply-web-tools")


async def _code_allowed(web, page, require_approval: list[str]) -> None:
    await web.api.patch("/v1/users/me/settings", headers=await session_headers(page),
                        json={"advanced_settings": {"code_execution_enabled": True}})
    await web.api.patch("/v1/admin/mcp/tools/code_executor", headers=web.admin_headers(), json={
        "enabled": True, "content_filter": {"disallowed_keywords": [],
                                            "require_approval_for": require_approval}})


async def test_tool_steps_stream_then_stay(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await _code_allowed(web, page, [])
    await page.evaluate(WATCH_STREAMED_STEPS)
    await page.get_by_role("textbox", name="Message").fill(CODE)
    await page.get_by_role("button", name="Send").click()
    reply = await wait_for_replies(page, 1)
    await reply.get_by_text("tool said: exit status: 0").wait_for()
    assert await page.evaluate("window.__streamedStep")  # shown before the reply was stored
    step = page.locator('.messages details[data-role="tool"]')
    assert await step.count() == 1 and await step.get_attribute("data-state") == "completed"
    await step.locator("> summary").click()
    assert "Exit status 0" in await step.inner_text() and "42" in await step.inner_text()


async def test_a_reply_stopped_for_approval_is_approved_and_continued(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await _code_allowed(web, page, ["all"])
    try:
        await page.get_by_role("textbox", name="Message").fill(CHAIN)
        await page.get_by_role("button", name="Send").click()
        stop = page.get_by_role("group", name="Waiting for your approval")
        await stop.get_by_role("button", name="Approve").wait_for()
    finally:
        await _code_allowed(web, page, [])  # the second call runs without approval
    await page.get_by_role("button", name="Pending approvals: 1").wait_for()
    step = page.locator('.messages details[data-role="tool"]')
    assert await step.get_attribute("data-state") == "pending_approval"
    assert await stop.get_by_role("button", name="Continue").is_disabled()
    await web.screenshot(page, "reply-stopped-for-approval")
    await stop.get_by_role("button", name="Approve").click()
    await stop.get_by_text("Approved.").wait_for()
    await until(page, "document.querySelector('.approvals-button').hidden")
    await page.evaluate(WATCH_STREAMED_STEPS)
    await stop.get_by_role("button", name="Continue").click()
    reply = page.locator('article[data-role="assistant"]:not(.streaming)',
                         has_text="tool said: exit status: 0")
    await reply.wait_for()
    await reply.get_by_text("2/2").wait_for()  # the stopped version is kept
    assert await page.evaluate("window.__streamedStep")  # the next call, while it streamed
    assert "56" in await reply.inner_text()
    assert [await s.get_attribute("data-state") for s in await step.all()] == ["completed"] * 2
    await step.nth(1).locator("> summary").click()
    assert "print(7 * 8)" in await step.nth(1).inner_text()
    await web.screenshot(page, "reply-continued")
