"""Accounts and the rest of the app in a real browser: the chat list (search, rename,
delete, bulk delete), the model picker, guest upgrade, sign out and in, silent refresh,
settings, and the admin pages."""

from __future__ import annotations

import secrets

from support.browser import (
    app_ready,
    has_horizontal_scroll,
    send,
    session_headers,
    sign_in_as_guest,
    until,
)


async def test_chat_list_search_rename_delete_and_bulk_delete(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    headers = await session_headers(page)
    for title in ("Alpha plans", "Beta notes", "alphabet soup", "Gamma"):
        created = await web.api.post("/v1/conversations", headers=headers, json={"title": title})
        assert created.status_code == 201
    await page.reload()
    await app_ready(page)
    chats = page.get_by_role("list", name="Chats").get_by_role("link")
    assert await chats.all_inner_texts() == ["Gamma", "alphabet soup", "Beta notes", "Alpha plans"]

    await page.get_by_role("searchbox", name="Search chats").fill("ALPHA")
    await until(page, "document.querySelectorAll('.conversation').length === 2")
    assert await chats.all_inner_texts() == ["alphabet soup", "Alpha plans"]
    await page.get_by_role("searchbox", name="Search chats").fill("")
    await until(page, "document.querySelectorAll('.conversation').length === 4")

    await page.get_by_role("button", name="Rename Gamma").click()
    await page.get_by_role("textbox", name="New title").fill("Gamma rays")
    await page.keyboard.press("Enter")
    await page.get_by_role("link", name="Gamma rays").wait_for()

    await page.get_by_role("button", name="Delete Beta notes").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await page.get_by_role("link", name="Beta notes").wait_for(state="detached")

    await page.get_by_role("button", name="Select").click()
    await page.get_by_role("checkbox", name="Select Gamma rays").check()
    await page.get_by_role("checkbox", name="Select Alpha plans").check()
    await web.screenshot(page, "bulk-select")
    await page.get_by_role("button", name="Delete selected (2)").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await until(page, "document.querySelectorAll('.conversation').length === 1")
    assert await chats.all_inner_texts() == ["alphabet soup"]
    listed = (await web.api.get("/v1/conversations", headers=headers)).json()["data"]
    assert [c["title"] for c in listed] == ["alphabet soup"]


async def test_model_picker_shows_unavailable_models_disabled(web, new_page) -> None:
    admin = web.admin_headers()
    assert (await web.api.patch("/v1/admin/models/catalogs/mock-large", headers=admin,
                                json={"enabled": False})).status_code == 200
    try:
        page, _ = await new_page()
        await sign_in_as_guest(page)
        picker = page.get_by_role("combobox", name="Model")
        assert await picker.input_value() == "mock-small"
        large = picker.locator("option[value='mock-large']")
        assert await large.is_disabled() and "disabled" in await large.inner_text()
        assert not await picker.locator("option[value='mock-small']").is_disabled()
    finally:
        await web.api.patch("/v1/admin/models/catalogs/mock-large", headers=admin,
                            json={"enabled": True})
    await page.reload()
    await app_ready(page)
    await picker.select_option("mock-large")
    reply = await send(page, "which model?")
    assert "mock-large" in await reply.locator(".model-name").inner_text()
    conversation_id = page.url.rsplit("/", 1)[-1]
    stored = await web.api.get(f"/v1/conversations/{conversation_id}",
                               headers=await session_headers(page))
    assert stored.json()["data"]["model"] == "mock-large"


async def test_guest_upgrade_keeps_chats_then_sign_out_and_in(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await send(page, "remember this chat")
    await page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    await dialog.get_by_role("tab", name="Account").click()
    email = f"user-{secrets.token_hex(4)}@example.com"
    form = dialog.get_by_role("form", name="Create an account")
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Password").fill("correct horse battery")
    await form.get_by_role("button", name="Create account").click()
    await dialog.wait_for(state="detached")
    await page.locator(".account-name", has_text=email).wait_for()
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("button", name="Continue as guest").wait_for()
    assert await page.evaluate("localStorage.getItem('parlay.session')") is None

    login = page.get_by_role("form", name="Sign in")
    await login.get_by_label("Email").fill(email)
    await login.get_by_label("Password").fill("correct horse battery")
    await login.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name="remember this chat").click()
    await page.locator('article[data-role="assistant"]', has_text="echo: remember this chat").wait_for()


async def test_register_and_silent_refresh(web, new_page) -> None:
    page, watch = await new_page()
    await page.goto("/")
    await page.get_by_text("Create an account", exact=True).click()
    form = page.get_by_role("form", name="Create account")
    await form.get_by_label("Email").fill(f"new-{secrets.token_hex(4)}@example.com")
    await form.get_by_label("Password (8 characters or more)").fill("a long password")
    await form.get_by_role("button", name="Create account").click()
    await page.get_by_role("textbox", name="Message").wait_for()
    await send(page, "before the token expires")
    before = await page.evaluate("JSON.parse(localStorage.getItem('parlay.session'))")

    # The access token is about to expire: the next request refreshes it first.
    await page.evaluate("""() => {
        const s = JSON.parse(localStorage.getItem('parlay.session'));
        s.expires_at = Date.now() + 1000;
        localStorage.setItem('parlay.session', JSON.stringify(s));
    }""")
    await page.reload()
    await app_ready(page)
    after = await page.evaluate("JSON.parse(localStorage.getItem('parlay.session'))")
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]

    # The server refuses the access token (401): refreshed once, retried, no sign-in screen.
    watch.allow(r"status of 401")
    await page.evaluate("""() => {
        const s = JSON.parse(localStorage.getItem('parlay.session'));
        s.access_token = 'not-a-valid-token';
        localStorage.setItem('parlay.session', JSON.stringify(s));
    }""")
    await page.reload()
    await app_ready(page)
    await page.get_by_role("link", name="before the token expires").wait_for()
    reply = await send(page, "after the refresh")
    assert "after the refresh" in await reply.inner_text()
    assert await page.get_by_role("button", name="Continue as guest").count() == 0


async def test_settings_are_saved(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    await page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    await dialog.get_by_label("Reply style").select_option("Concise")
    await dialog.get_by_label("What should replies call you?").fill("Sam")
    await dialog.get_by_label("Theme").select_option("dark")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await web.screenshot(page, "settings-dark")
    await dialog.get_by_role("button", name="Save settings").click()
    await dialog.wait_for(state="detached")

    # Memory and tools have their own tabs (reached by keyboard: arrows move between tabs).
    await page.get_by_role("button", name="Settings").click()
    await dialog.get_by_role("tab", name="General").focus()
    await page.keyboard.press("ArrowRight")
    assert await dialog.get_by_role("tab", name="Memory").get_attribute("aria-selected") == "true"
    memory = dialog.get_by_role("form", name="Memory settings")
    assert await memory.get_by_label("Minimum similarity to recall (0 to 1)").input_value() == "0.35"
    await memory.get_by_label("Remember facts about me across chats").check()
    await memory.get_by_label("Learn facts from my messages").check()
    await memory.get_by_label("At most this many memories per reply").fill("7")
    await memory.get_by_role("button", name="Save memory settings").click()
    await page.get_by_text("Memory settings saved").first.wait_for()
    await dialog.get_by_role("tab", name="Tools").click()
    code = dialog.locator('[data-group="code_execution_enabled"] [data-tool="code_executor"]')
    assert "off" in await code.inner_text()
    await dialog.get_by_label("Allow running code").check()  # saved at once
    await until(page, "document.querySelector('[data-tool=\"code_executor\"] .pill')?.textContent === 'ready'")
    search = dialog.locator('[data-tool="web_search"] .pill')
    assert await search.inner_text() == "off: turn it on above"
    await web.screenshot(page, "settings-tools")
    await dialog.get_by_role("button", name="Close").click()
    saved = (await web.api.get("/v1/users/me/settings", headers=await session_headers(page))).json()["data"]
    assert saved["profile_settings"]["base_style"] == "Concise"
    assert saved["profile_settings"]["nick_name"] == "Sam"
    assert saved["memory_config"] == {**saved["memory_config"], "enabled": True, "max_items": 7,
                                      "auto_extract": True, "min_similarity": 0.35}
    assert saved["advanced_settings"]["code_execution_enabled"] is True
    assert saved["advanced_settings"]["web_search_enabled"] is False
    assert saved["preferences"]["theme"] == "dark"
    await page.reload()
    await app_ready(page)
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await send(page, "!markdown")
    await web.screenshot(page, "chat-dark")


async def _admin_page(web, new_page, **options):
    email = f"admin-{secrets.token_hex(4)}@example.com"
    tokens = (await web.api.post("/llm/auth/register", json={"email": email, "password": "admin password"})).json()
    promoted = await web.api.patch(f"/v1/admin/users/{tokens['user_id']}", headers=web.admin_headers(),
                                   json={"role": "admin"})
    assert promoted.status_code == 200
    page, watch = await new_page(**options)
    await page.goto("/")
    login = page.get_by_role("form", name="Sign in")
    await login.get_by_label("Email").fill(email)
    await login.get_by_label("Password").fill("admin password")
    await login.get_by_role("button", name="Sign in").click()
    await page.get_by_role("textbox", name="Message").wait_for()
    return page, watch


async def test_admin_disables_a_tool_and_sees_models_users_usage(web, new_page) -> None:
    page, _ = await _admin_page(web, new_page)
    await page.get_by_role("link", name="Admin").click()
    card = page.get_by_role("form", name="Code Executor")
    await card.get_by_label("Enabled").uncheck()
    await card.get_by_label("Reason").fill("sandbox maintenance")
    await card.get_by_label("Blocked keywords (one per line)").fill("rm -rf\nshutdown")
    approvals = card.get_by_role("group", name="Ask the user to approve")
    assert await approvals.get_by_role("checkbox").count() == 3
    await approvals.get_by_label("System calls").check()
    await card.get_by_role("button", name="Save Code Executor").click()
    await card.locator(".pill", has_text="disabled").wait_for()
    await web.screenshot(page, "admin-tools")
    tool = (await web.api.get("/v1/admin/mcp/tools/code_executor", headers=web.admin_headers())).json()["data"]
    assert tool["enabled"] is False and tool["reason"] == "sandbox maintenance"
    assert tool["content_filter"]["disallowed_keywords"] == ["rm -rf", "shutdown"]
    assert tool["content_filter"]["require_approval_for"] == ["system_calls"]
    await web.api.patch("/v1/admin/mcp/tools/code_executor", headers=web.admin_headers(),
                        json={"enabled": True, "reason": None,
                              "content_filter": {"disallowed_keywords": [],
                                                 "require_approval_for": []}})

    await page.get_by_role("link", name="Models").click()
    await page.get_by_role("checkbox", name="mock-large enabled").wait_for()
    await page.get_by_role("link", name="Providers").click()
    await page.get_by_role("button", name="Sync openai").click()
    await page.get_by_text("synced").first.wait_for()
    await page.get_by_role("link", name="Users").click()
    await page.get_by_role("table", name="Users").wait_for()
    await page.get_by_role("link", name="Usage").click()
    await page.get_by_role("table", name="By model").wait_for()
    await web.screenshot(page, "admin-usage")


async def test_admin_pages_fit_a_narrow_screen(web, new_page) -> None:
    page, _ = await _admin_page(web, new_page, width=375, height=740)
    for tab in ("tools", "servers", "calls", "models", "providers", "users", "usage"):
        await page.goto(f"/#/admin/{tab}")
        await page.locator(".admin-body > :not(p.muted)").first.wait_for()
        assert not await has_horizontal_scroll(page), tab


async def test_a_guest_cannot_reach_admin(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    assert not await page.get_by_role("link", name="Admin").is_visible()
    await page.goto("/#/admin/tools")
    await until(page, "location.hash === '#/'")
