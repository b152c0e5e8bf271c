"""Settings > Tools against the real server: a switch for each tool, built-ins and the tools
of an admin-registered MCP server (a real loopback one built with the SDK) alike. A user
turns off one MCP tool and one built-in of a pair; the API then leaves them out for that
user alone (GET /v1/tools, /v1/mcp tools/list), and switching back brings them back."""

from __future__ import annotations

import secrets
from typing import Any

from support.browser import session_headers, sign_in_as_guest, until
from support.tool_servers import REMOTE_TOKEN, remote_mcp_app, serving


async def _mcp_list(web: Any, headers: dict[str, str]) -> set[str]:
    answer = await web.api.post("/v1/mcp", headers={
        **headers, "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    assert answer.status_code == 200, answer.text
    return {tool["name"] for tool in answer.json()["result"]["tools"]}


async def _for_user(web: Any, headers: dict[str, str]) -> dict[str, bool]:
    response = await web.api.get("/v1/tools", headers=headers)
    assert response.status_code == 200, response.text
    return {tool["id"]: tool["enabled_for_user"] for tool in response.json()["data"]}


def _pill_says(tool_id: str, text: str) -> str:
    return f"document.querySelector('[data-tool=\"{tool_id}\"] .pill')?.textContent === '{text}'"


async def _pill_text(page: Any, tool_id: str) -> str:
    return await page.evaluate(
        f"document.querySelector('[data-tool=\"{tool_id}\"] .pill')?.textContent")


async def test_a_user_turns_off_one_mcp_tool_in_settings(web, new_page) -> None:
    name = f"sw{secrets.token_hex(2)}"
    add, shout = f"{name}__add", f"{name}__shout"
    async with serving(remote_mcp_app()) as remote:
        created = await web.api.post("/v1/admin/mcp/servers", headers=web.admin_headers(), json={
            "name": name, "url": f"{remote}/mcp", "allowed_tools": ["add", "shout"],
            "headers": {"Authorization": f"Bearer {REMOTE_TOKEN}"}})
        assert created.status_code == 201, created.text
        try:
            page, _ = await new_page()
            await sign_in_as_guest(page)
            headers = await session_headers(page)
            await page.get_by_role("button", name="Settings").click()
            dialog = page.get_by_role("dialog", name="Settings")
            await dialog.get_by_role("tab", name="Tools").click()
            servers = dialog.get_by_role("list", name="Tools from MCP servers")
            await until(page, _pill_says(add, "ready"))
            switch = servers.locator(f'[data-tool="{add}"]').get_by_role("checkbox", name="add",
                                                                          exact=True)
            assert await switch.is_checked()
            await switch.uncheck()  # saved at once
            await until(page, _pill_says(add, "off"))
            assert await _pill_text(page, shout) == "ready"

            # One built-in of a pair: web search on, page reading off.
            await dialog.get_by_label("Allow web search and page reading").check()
            await until(page, _pill_says("web_scraper", "ready"))
            await dialog.locator('[data-tool="web_scraper"]').get_by_role("checkbox").uncheck()
            await until(page, _pill_says("web_scraper", "off"))
            assert await _pill_text(page, "web_search") == "ready"
            await web.screenshot(page, "settings-tool-switches")

            mine = await _for_user(web, headers)
            assert (mine[add], mine[shout]) == (False, True)
            assert (mine["web_search"], mine["web_scraper"]) == (True, False)
            listed = await _mcp_list(web, headers)
            assert add not in listed and "web_scraper" not in listed
            assert {shout, "web_search"} <= listed
            assert add in await _mcp_list(web, await web.guest_headers())  # theirs: untouched
            saved = (await web.api.get("/v1/users/me/settings", headers=headers)).json()["data"]
            assert saved["advanced_settings"]["disabled_tools"] == [add, "web_scraper"]

            await servers.locator(f'[data-tool="{add}"]').get_by_role("checkbox").check()
            await until(page, _pill_says(add, "ready"))
            assert add in await _mcp_list(web, headers)
            assert (await _for_user(web, headers))[add] is True
        finally:
            await web.api.delete(f"/v1/admin/mcp/servers/{created.json()['data']['id']}",
                                 headers=web.admin_headers())
