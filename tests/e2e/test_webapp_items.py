"""Items are rendered by `type`: a function_call with its function_call_output is one
collapsible tool step (search results as links, code with its output), a reply's
`metadata.memories` are "remembered" chips, and an unknown type is shown, never dropped.
The API does not produce tool items yet (tools land separately), so the renderer is fed
items of the documented OpenAI shapes directly, in the real page."""

from __future__ import annotations

import json

from support.browser import sign_in_as_guest

ITEMS = [
    {"type": "message", "role": "user", "id": "m1", "content": "find the docs", "status": "completed"},
    {"type": "function_call", "id": "fc1", "call_id": "c1", "name": "web_search",
     "arguments": json.dumps({"query": "parlay docs"})},
    {"type": "function_call_output", "id": "fo1", "call_id": "c1", "output": json.dumps({"results": [
        {"title": "Parlay docs", "url": "https://example.org/parlay", "snippet": "the manual"},
        {"title": "<b>not a link</b>", "url": "javascript:alert(1)"}]})},
    {"type": "function_call", "id": "fc2", "call_id": "c2", "name": "code_executor",
     "arguments": json.dumps({"code": "print(6 * 7)"})},
    {"type": "function_call_output", "id": "fo2", "call_id": "c2",
     "output": json.dumps({"stdout": "42\n", "stderr": "", "exit_code": 0})},
    {"type": "function_call", "id": "fc3", "call_id": "c3", "name": "web_scraper",
     "arguments": json.dumps({"url": "https://example.org"})},
    {"type": "message", "role": "assistant", "id": "m2", "content": "Found **it**.",
     "status": "completed", "metadata": {"memories": [{"id": "mem_1", "text": "prefers short answers"}]}},
    {"type": "reasoning", "id": "r1"},
]


async def test_items_render_by_type(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    main = await page.evaluate("document.querySelector('script[type=module]').src")
    await page.evaluate("""async ([main, items]) => {
        const { renderItems } = await import(new URL('messages.js', main).href);
        const view = { cached: (item, build) => build(), versionIndex: () => undefined };
        const host = document.createElement('div');
        host.id = 'fixture';
        host.append(...renderItems(items, view));
        document.querySelector('.messages').replaceChildren(host);
        document.querySelector('.empty-state').hidden = true;
    }""", [main, ITEMS])
    fixture = page.locator("#fixture")
    steps = fixture.locator('details[data-role="tool"]')
    assert await steps.count() == 3
    search = steps.nth(0)
    assert "Tool: web_search" in await search.locator("summary").inner_text()
    await search.locator("summary").click()  # expands
    await search.get_by_role("link", name="Parlay docs").wait_for()
    assert await search.get_by_role("link", name="Parlay docs").get_attribute("href") == "https://example.org/parlay"
    assert await search.locator("a").count() == 1  # the javascript: result is text
    assert await search.locator("b").count() == 0 and "<b>not a link</b>" in await search.inner_text()
    code = steps.nth(1)
    await code.locator("summary").click()
    assert "print(6 * 7)" in await code.inner_text() and "42" in await code.inner_text()
    assert "exit status 0" in await code.inner_text()
    assert "running" in await steps.nth(2).locator("summary").inner_text()  # no output yet
    reply = fixture.locator('article[data-role="assistant"]')
    assert await reply.locator("strong", has_text="it").count() == 1
    assert await reply.get_by_label("Remembered").inner_text() == "Remembered:\nprefers short answers"
    assert "Unsupported item (reasoning)" in await fixture.inner_text()
    assert [await e.get_attribute("data-role") for e in await fixture.locator("[data-role]").all()] == [
        "user", "tool", "tool", "tool", "assistant"]
    await web.screenshot(page, "tool-steps")
