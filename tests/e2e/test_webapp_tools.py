"""Tools in the app, against the real server: tool steps of stored function_call /
function_call_output items (hostile tool output stays text), tool calls waiting for the
user's approval (the header count, Approve and Reject), and the admin's MCP servers page
(a real loopback MCP server built with the SDK) and tool call log."""

from __future__ import annotations

import json
import secrets

from support.browser import (
    app_ready,
    has_horizontal_scroll,
    session_headers,
    sign_in_as_guest,
    until,
)
from support.tool_servers import REMOTE_TOKEN, remote_mcp_app, serving

from .test_webapp_account import _admin_page

XSS_SEARCH = ("Search results for 'tomatoes':\n"
              "1. Tomato guide\n   https://garden.example/tomatoes\n   Everything about tomatoes\n"
              "2. <img src=x onerror=\"window.__xss='search'\">\n   javascript:window.__xss='link'\n"
              "   <script>window.__xss='snippet'</script>")
XSS_PAGE = ("# Growing <b onclick=\"window.__xss='title'\">tomatoes</b>\n\nURL: https://garden.example/grow\n\n"
            "## Watering\n\nWater deeply. <img src=x onerror=\"window.__xss='page'\"> "
            "[click](javascript:window.__xss='md')\n\n<script>window.__xss='page-script'</script>")
XSS_CODE = ("exit status: 1\nstdout:\n<script>window.__xss='stdout'</script>\n"
            "stderr:\nTraceback: <img src=x onerror=\"window.__xss='stderr'\">")


def _call(call_id: str, name: str, arguments: dict) -> dict:
    return {"type": "function_call", "call_id": call_id, "name": name,
            "arguments": json.dumps(arguments)}


def _output(call_id: str, output: str) -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


async def test_tool_steps_of_stored_items_render_safely(web, new_page) -> None:
    page, watch = await new_page()
    await sign_in_as_guest(page)
    headers = await session_headers(page)
    conversation = (await web.api.post("/v1/conversations", headers=headers,
                                       json={"title": "Tomatoes"})).json()["data"]
    # The Responses API stores a turn's function calls and outputs in the conversation.
    stored = await web.api.post("/v1/responses", headers=headers, json={
        "model": "mock-small", "conversation": conversation["id"], "input": [
            {"role": "user", "content": "how do I grow tomatoes?"},
            _call("call_1", "web_search", {"query": "tomatoes"}), _output("call_1", XSS_SEARCH),
            _call("call_2", "web_scraper", {"url": "https://garden.example/grow"}),
            _output("call_2", XSS_PAGE),
            _call("call_3", "code_executor", {"code": "print('<script>1</script>')"}),
            _output("call_3", XSS_CODE)]})
    assert stored.status_code == 200, stored.text
    await page.goto(f"/#/c/{conversation['id']}")
    await app_ready(page)
    steps = page.locator('.messages details[data-role="tool"]')
    await steps.nth(2).wait_for()
    assert [await s.get_attribute("data-tool") for s in await steps.all()] == [
        "web_search", "web_scraper", "code_executor"]
    for step in await steps.all():
        await step.locator("> summary").click()
    search, scraped, code = steps.nth(0), steps.nth(1), steps.nth(2)
    guide = search.get_by_role("link", name="Tomato guide")
    assert await guide.get_attribute("href") == "https://garden.example/tomatoes"
    assert await guide.get_attribute("rel") == "noopener noreferrer"
    assert await guide.get_attribute("target") == "_blank"
    assert await search.locator("a").count() == 1  # the javascript: URL stays text
    assert "<img src=x onerror=" in await search.inner_text()
    assert await scraped.locator(".excerpt h2", has_text="Watering").count() == 1
    assert "Growing <b onclick=" in await scraped.locator(".page-title").inner_text()
    assert await scraped.locator("a[href^='javascript']").count() == 0
    assert "Exit status 1" in await code.inner_text()
    assert "<script>window.__xss='stdout'</script>" in await code.locator("pre").nth(1).inner_text()
    assert "onerror" in await code.locator("pre.stderr").inner_text()
    messages = page.locator(".messages")
    for tag in ("img", "script", "iframe", "b[onclick]"):
        assert await messages.locator(tag).count() == 0, tag
    assert await messages.locator("[onerror], [onclick], [onload]").count() == 0
    assert await page.evaluate("window.__xss") is None
    assert watch.dialogs == []
    reply = page.locator('article[data-role="assistant"]').last
    assert "tool said:" in await reply.inner_text()  # the mock read the results back
    await scraped.locator("> summary").click()
    await search.scroll_into_view_if_needed()
    await web.screenshot(page, "tool-steps")
    await scraped.locator("> summary").click()
    await page.set_viewport_size({"width": 375, "height": 740})
    assert not await has_horizontal_scroll(page)


GOOD_SEARCH = ("Search results for 'growing tomatoes':\n"
               "1. Tomato growing guide\n   https://garden.example/tomatoes\n"
               "   Choosing varieties, preparing the soil and planting.\n"
               "2. Watering tomatoes\n   https://garden.example/water\n"
               "   Water deeply and consistently; irregular watering cracks the fruit.\n"
               "3. Soil for tomatoes\n   https://garden.example/soil\n   Rich, well-drained soil.")
GOOD_ANSWER = ("**6 \u00d7 7 = 42**: I ran it to be sure.\n\nFor tomatoes, the "
               "[Tomato growing guide](https://garden.example/tomatoes) says to pick a variety "
               "that suits your space, plant in *rich, well-drained soil*, and water deeply and "
               "consistently: irregular watering cracks the fruit.\n")


async def test_a_turn_with_tools_reads_well(web, new_page, mock_upstream) -> None:
    """A turn as a model with tools makes it (search, code, then the answer): the steps fold
    away above the reply; the README's screenshot."""
    page, _ = await new_page()
    await sign_in_as_guest(page)
    headers = await session_headers(page)
    question = "How do I grow tomatoes? And what is 6 \u00d7 7?"
    conversation = (await web.api.post("/v1/conversations", headers=headers,
                                       json={"title": "Tomatoes and arithmetic"})).json()["data"]
    with mock_upstream.answering(question, GOOD_ANSWER):
        stored = await web.api.post("/v1/responses", headers=headers, json={
            "model": "mock-small", "conversation": conversation["id"], "input": [
                {"role": "user", "content": question},
                _call("call_1", "web_search", {"query": "growing tomatoes"}),
                _output("call_1", GOOD_SEARCH),
                _call("call_2", "code_executor", {"code": "print(6 * 7)"}),
                _output("call_2", "exit status: 0\nstdout:\n42\n\nstderr: (empty)")]})
    assert stored.status_code == 200, stored.text
    await page.goto(f"/#/c/{conversation['id']}")
    await page.reload()  # the chat list too
    await app_ready(page)
    reply = page.locator('article[data-role="assistant"]')
    await reply.get_by_role("link", name="Tomato growing guide").wait_for()
    steps = page.locator('.messages details[data-role="tool"]')
    await steps.nth(1).locator("> summary").click()
    assert "Exit status 0" in await steps.nth(1).inner_text()
    await steps.nth(1).locator("> summary").click()
    await steps.nth(0).locator("> summary").click()
    assert await steps.nth(0).get_by_role("link").count() == 3
    await page.evaluate("document.querySelector('.scroller').scrollTop = 0")
    await web.screenshot(page, "tool-turn")


async def _pending_approvals(web, headers: dict[str, str], codes: list[str]) -> list[str]:
    """code_executor calls of this user's, made through /v1/mcp, waiting for approval."""
    admin = web.admin_headers()
    url = "/v1/admin/mcp/tools/code_executor"
    await web.api.patch(url, headers=admin, json={"enabled": True, "content_filter": {
        "disallowed_keywords": [], "require_approval_for": ["system_calls"]}})
    await web.api.patch("/v1/users/me/settings", headers=headers,
                        json={"advanced_settings": {"code_execution_enabled": True}})
    ids = []
    try:
        for code in codes:
            answer = await web.api.post("/v1/mcp", headers={
                **headers, "Accept": "application/json, text/event-stream"}, json={
                "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "code_executor", "arguments": {"code": code}}})
            structured = answer.json()["result"]["structuredContent"]
            assert structured["status"] == "pending_approval", structured
            ids.append(structured["approval_id"])
    finally:
        await web.api.patch(url, headers=admin, json={"content_filter": {"require_approval_for": []}})
    return ids


async def test_pending_approvals_are_approved_and_rejected(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    headers = await session_headers(page)
    approve_id, reject_id = await _pending_approvals(
        web, headers, ["import sys\nprint(6 * 7)", "import os\nos.listdir('/')"])
    await page.reload()
    await app_ready(page)
    indicator = page.get_by_role("button", name="Pending approvals: 2")
    await indicator.click()
    dialog = page.get_by_role("dialog", name="Waiting for your approval")
    cards = dialog.locator(".approval")
    await cards.nth(1).wait_for()
    first = dialog.locator(f'.approval[data-approval-id="{approve_id}"]')
    second = dialog.locator(f'.approval[data-approval-id="{reject_id}"]')
    assert "system calls" in await first.inner_text()
    assert "print(6 * 7)" in await first.locator("pre").inner_text()
    await web.screenshot(page, "approvals-pending")
    await first.get_by_role("button", name="Approve").click()
    await first.get_by_text("Approved.").wait_for()
    assert "42" in await first.locator(".approval-output").inner_text()
    await page.get_by_role("button", name="Pending approvals: 1").wait_for()
    await second.get_by_role("button", name="Reject").click()
    await second.get_by_text("Rejected. It did not run.").wait_for()
    await web.screenshot(page, "approvals-decided")
    await dialog.get_by_role("button", name="Close").click()
    await until(page, "document.querySelector('.approvals-button').hidden")
    listed = {a["id"]: a for a in (await web.api.get("/v1/tool-approvals", headers=headers)).json()["data"]}
    assert listed[approve_id]["status"] == "approved"
    assert listed[approve_id]["result"]["status"] == "completed"
    assert listed[reject_id]["status"] == "rejected" and listed[reject_id]["result"] is None


async def test_admin_registers_an_mcp_server_and_reads_the_tool_call_log(web, new_page) -> None:
    page, _ = await _admin_page(web, new_page)
    name = f"remote{secrets.token_hex(2)}"
    async with serving(remote_mcp_app()) as remote:
        await page.goto("/#/admin/servers")
        form = page.get_by_role("form", name="Register an MCP server")
        await form.get_by_label("Name", exact=True).fill(name)
        await form.get_by_label("URL (Streamable HTTP)").fill(f"{remote}/mcp")
        await form.get_by_label("Headers").fill(f"Authorization: Bearer {REMOTE_TOKEN}")
        await form.get_by_label("Allowed tools").fill("add, shout")
        await form.get_by_role("button", name="Register server").click()
        card = page.get_by_role("region", name=f"MCP server {name}")
        await card.get_by_text(f"{name}__add").wait_for()
        assert await card.locator(".pill").inner_text() == "connected"
        assert sorted(await card.locator(".server-tools li").all_inner_texts()) == [
            f"{name}__add", f"{name}__shout"]
        assert "Headers: Authorization" in await card.inner_text()
        assert REMOTE_TOKEN not in await page.locator(".admin-body").inner_text()
        await card.get_by_role("button", name=f"Sync {name}").click()
        await card.get_by_text("Last synced").wait_for()
        await web.screenshot(page, "admin-mcp-servers")

        # A call to one of its tools lands in the log.
        user = await web.guest_headers()
        answer = await web.api.post("/v1/mcp", headers={
            **user, "Accept": "application/json, text/event-stream"}, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": f"{name}__add", "arguments": {"a": 2, "b": 40}}})
        assert answer.json()["result"]["structuredContent"]["status"] == "completed"
        await page.get_by_role("link", name="Tool calls").click()
        filters = page.get_by_role("form", name="Filter tool calls")
        await filters.get_by_label("Tool").fill(f"{name}__add")
        await filters.get_by_role("button", name="Filter").click()
        log = page.get_by_role("region", name="Tool calls")
        await until(page, "document.querySelectorAll('.admin-body tbody tr').length === 1")
        assert await log.get_by_role("rowheader").inner_text() == f"{name}__add"
        assert "completed" in await log.locator("tbody tr").inner_text()
        await web.screenshot(page, "admin-tool-calls")

        await page.get_by_role("link", name="MCP servers").click()
        await card.get_by_role("button", name=f"Delete {name}").click()
        await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        await card.wait_for(state="detached")
    servers = (await web.api.get("/v1/admin/mcp/servers", headers=web.admin_headers())).json()["data"]
    assert name not in [s["name"] for s in servers]
