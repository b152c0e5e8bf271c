"""Items are rendered by `type`, in the shapes the server stores and streams: a function_call
with its function_call_output is one collapsible tool step (search results as links, a page's
title, address and excerpt, code with its output), a reply's `metadata.memories` is a
"remembered" chip, a reply stopped for an approval shows Approve / Reject and Continue, and an
unknown type is shown, never dropped.

The renderer is fed every shape here in the real page (some are hard to make a server
produce on demand: a refused call, a call whose result never came), with a real pending
approval behind the Approve button. test_webapp_tools.py and test_webapp_tool_replies.py
cover items and streams the server produced."""

from __future__ import annotations

import json

from support.browser import session_headers, sign_in_as_guest, until

SEARCH_TEXT = ("Search results for 'parlay docs':\n"
               "1. Parlay docs\n   https://example.org/parlay\n   the manual\n"
               "2. <b>not a link</b>\n   javascript:alert(1)\n   <img src=x onerror=alert(1)>")
CODE_TEXT = "exit status: 0\nstdout:\n42\n\nstderr: (empty)"
PAGE_TEXT = "# A page\n\nURL: https://example.org/page\n\n## Heading\n\n" + "Body text. " * 100


def _call(item_id: str, call_id: str, name: str, arguments: dict) -> dict:
    text = json.dumps(arguments)
    return {"type": "function_call", "id": item_id, "role": "assistant", "content": text,
            "status": "completed", "content_parts": [
                {"type": "function_call", "call_id": call_id, "name": name, "arguments": text}]}


def _output(item_id: str, call_id: str, output: str, status: str = "completed",
            **metadata: object) -> dict:
    return {"type": "function_call_output", "id": item_id, "role": "tool", "content": output,
            "status": {"pending_approval": "incomplete", "refused": "failed"}.get(status, status),
            "metadata": metadata or None, "content_parts": [
                {"type": "function_call_output", "call_id": call_id, "output": output,
                 "status": status}]}


def _items(approval_id: str) -> list[dict]:
    return [
        {"type": "message", "role": "user", "id": "m1", "content": "find the docs", "status": "completed"},
        _call("fc1", "c1", "web_search", {"query": "parlay docs"}),
        _output("fo1", "c1", SEARCH_TEXT),
        _call("fc2", "c2", "code_executor", {"code": "print(6 * 7)\n# ``` not the end"}),
        _output("fo2", "c2", CODE_TEXT),
        _call("fc3", "c3", "web_scraper", {"url": "https://example.org/page"}),
        _output("fo3", "c3", PAGE_TEXT),
        _call("fc4", "c4", "code_executor", {"code": "import os"}),
        _output("fo4", "c4", "code_executor is waiting for your approval", "pending_approval",
                approval_id=approval_id, tool="code_executor"),
        {"type": "message", "role": "assistant", "id": "m2", "content": "", "status": "incomplete",
         "metadata": {"stopped": "pending_approval", "approvals": [
             {"approval_id": approval_id, "call_id": "c4", "item_id": "fo4"}],
             "memories": [{"id": "mem_doesnotexist", "similarity": 0.51}]}},
        _call("fc6", "c6", "web_search", {"query": "never answered"}),
        {"type": "message", "role": "user", "id": "m3", "content": "hello?", "status": "completed"},
        _call("fc5", "c5", "web_search", {"query": "still running"}),  # no output yet
        {"type": "reasoning", "id": "r1"},
    ]


async def _render(page, items: list[dict]) -> None:
    main = await page.evaluate("document.querySelector('script[type=module]').src")
    await page.evaluate("""async ([main, items]) => {
        const { renderItems } = await import(new URL('messages.js', main).href);
        window.__continued = 0;
        const view = { cached: (item, build) => build(), cachedKey: (id, key, build) => build(),
                       versionIndex: () => undefined, regenerate: () => { window.__continued += 1; },
                       openMemory: () => {}, approvalDecided: () => {} };
        const host = document.createElement('div');
        host.id = 'fixture';
        host.append(...renderItems(items, view));
        document.querySelector('.messages').replaceChildren(host);
        document.querySelector('.empty-state').hidden = true;
    }""", [main, items])


async def test_items_render_by_type(web, new_page) -> None:
    page, watch = await new_page()
    # The browser itself logs the 404 of the memory deleted since (the app shows it calmly).
    watch.allow(r"status of 404 .*/v1/users/me/memories/mem_doesnotexist")
    await sign_in_as_guest(page)
    approval_id = await _pending_approval(web, await session_headers(page))
    await _render(page, _items(approval_id))
    fixture = page.locator("#fixture")
    steps = fixture.locator('details[data-role="tool"]')
    assert await steps.count() == 6
    search = steps.nth(0)
    assert await search.locator("> summary").inner_text() == "Searched the web for “parlay docs”"
    await search.locator("> summary").click()  # expands
    link = search.get_by_role("link", name="Parlay docs")
    assert await link.get_attribute("href") == "https://example.org/parlay"
    assert await link.get_attribute("rel") == "noopener noreferrer"
    assert await search.locator("a").count() == 1  # the javascript: result is text
    assert await search.locator("b, img").count() == 0
    assert "<b>not a link</b>" in await search.inner_text()

    code = steps.nth(1)
    await code.locator("> summary").click()
    assert await code.locator("> summary").inner_text() == "Ran python code"
    assert "print(6 * 7)\n# ``` not the end" in await code.locator("pre code").first.inner_text()
    await code.locator(".hljs-built_in", has_text="print").wait_for()  # highlighted
    assert "Exit status 0" in await code.inner_text() and "42" in await code.inner_text()

    scraped = steps.nth(2)
    await scraped.locator("> summary").click()
    assert "A page" in await scraped.locator(".page-title").inner_text()
    assert await scraped.locator(".scraped-page").get_by_role("link", name="https://example.org/page").count() == 1
    excerpt = scraped.locator(".excerpt")
    assert await excerpt.locator("h2", has_text="Heading").count() == 1  # Markdown, sanitised
    assert (await excerpt.inner_text()).endswith("…") and len(await excerpt.inner_text()) < 700
    await scraped.get_by_text("The whole text").click()
    await scraped.locator(".scraped h2", has_text="Heading").wait_for()
    assert await excerpt.is_hidden()

    waiting = steps.nth(3)
    assert "waiting for your approval" in await waiting.locator("> summary").inner_text()
    assert await waiting.locator(".approval").count() == 0  # the reply below shows it
    assert "no result" in await steps.nth(4).locator("> summary").inner_text()  # a message came after
    assert "running" in await steps.nth(5).locator("> summary").inner_text()

    # The reply stopped for the approval: Approve runs it (for real), then Continue.
    reply = fixture.locator('article[data-role="assistant"]')
    stop = reply.get_by_role("group", name="Waiting for your approval")
    card = stop.locator(f'.approval[data-approval-id="{approval_id}"]')
    await card.get_by_role("button", name="Approve").wait_for()
    assert await stop.get_by_role("button", name="Continue").is_disabled()
    await scraped.locator("> summary").click()  # fold the long page again
    await reply.scroll_into_view_if_needed()
    await web.screenshot(page, "approval-on-reply")
    await card.get_by_role("button", name="Approve").click()
    await card.get_by_text("Approved.").wait_for()
    assert "Exit status 0" in await card.locator(".approval-output").inner_text()
    await stop.get_by_role("button", name="Continue").click()
    assert await page.evaluate("window.__continued") == 1
    decided = await web.api.get(f"/v1/tool-approvals/{approval_id}", headers=await session_headers(page))
    assert decided.json()["data"]["status"] == "approved"

    # A memory deleted since the reply is said to be, not an error.
    chip = reply.locator("details.remembered")
    assert await chip.locator("> summary").inner_text() == "Remembered 1 memory"
    await chip.locator("> summary").click()
    await chip.get_by_text("A memory you have deleted since.").wait_for()

    assert "Unsupported item (reasoning)" in await fixture.inner_text()
    assert [await e.get_attribute("data-role") for e in await fixture.locator("[data-role]").all()] == [
        "user", "tool", "tool", "tool", "tool", "assistant", "tool", "user", "tool"]


async def test_streamed_tool_items_show_while_the_reply_streams(web, new_page) -> None:
    """The `parlay_item` shape of a streamed reply (fields at the top level), as the chat
    shows it above the streaming text: a call, then its result replacing it."""
    page, _ = await new_page()
    await sign_in_as_guest(page)
    main = await page.evaluate("document.querySelector('script[type=module]').src")
    await page.evaluate("""async (main) => {
        const m = await import(new URL('messages.js', main).href);
        const stream = m.streamingElements('hi', 'mock-small');
        document.querySelector('.messages').replaceChildren(stream.element);
        window.__stream = stream;
        m.addStreamedItem(stream, {id: 'fc', type: 'function_call', call_id: 'call_1',
                                   name: 'web_search', arguments: '{"query": "tomatoes"}'});
    }""", main)
    step = page.locator('.streaming details[data-role="tool"]')
    assert "running" in await step.locator("> summary").inner_text()
    await page.evaluate("""async (main) => {
        const m = await import(new URL('messages.js', main).href);
        m.addStreamedItem(window.__stream, {id: 'fo', type: 'function_call_output', call_id: 'call_1',
            output: "Search results for 'tomatoes':\\n1. Tomato guide\\n   https://garden.example/t\\n   grow them",
            status: 'completed', error_code: null, approval_id: null});
    }""", main)
    await until(page, "document.querySelectorAll('.streaming details[data-role=tool]').length === 1")
    assert await step.get_attribute("data-state") == "completed"
    await step.locator("> summary").click()
    assert await step.get_by_role("link", name="Tomato guide").get_attribute("href") == "https://garden.example/t"


async def _pending_approval(web, headers: dict[str, str]) -> str:
    """A code_executor call of this user's, made through /v1/mcp, waiting for approval."""
    admin = web.admin_headers()
    url = "/v1/admin/mcp/tools/code_executor"
    await web.api.patch(url, headers=admin, json={"enabled": True, "content_filter": {
        "disallowed_keywords": [], "require_approval_for": ["all"]}})
    await web.api.patch("/v1/users/me/settings", headers=headers,
                        json={"advanced_settings": {"code_execution_enabled": True}})
    try:
        answer = await web.api.post("/v1/mcp", headers={
            **headers, "Accept": "application/json, text/event-stream"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "code_executor", "arguments": {"code": "print(1)"}}})
    finally:
        await web.api.patch(url, headers=admin, json={"content_filter": {"require_approval_for": []}})
    structured = answer.json()["result"]["structuredContent"]
    assert structured["status"] == "pending_approval", structured
    return structured["approval_id"]
