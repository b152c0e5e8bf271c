"""Memory in the app, with the real local embedding model: a memory added in Settings is
recalled for a related question and the reply says so ("Remembered", expanding to the
memory's text, with a way to it in Settings); the memory list adds, edits, deletes and
forgets all."""

from __future__ import annotations

from support.browser import send, session_headers, sign_in_as_guest, until

FACT = "My favourite colour is teal"


async def _open_memory_tab(page):
    if await page.get_by_role("button", name="Show chats").is_visible():  # narrow: a drawer
        await page.get_by_role("button", name="Show chats").click()
    await page.get_by_role("button", name="Settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    await dialog.get_by_role("tab", name="Memory").click()
    return dialog


async def _add(dialog, text: str) -> None:
    form = dialog.get_by_role("form", name="Add a memory")
    await form.get_by_label("New memory").fill(text)
    await form.get_by_role("button", name="Add memory").click()
    await dialog.locator(".memory-text", has_text=text).wait_for()


async def test_a_reply_that_recalled_a_memory_says_so(web, new_page) -> None:
    page, _ = await new_page()
    await sign_in_as_guest(page)
    dialog = await _open_memory_tab(page)
    await _add(dialog, FACT)
    settings = dialog.get_by_role("form", name="Memory settings")
    await settings.get_by_label("Remember facts about me across chats").check()
    await settings.get_by_role("button", name="Save memory settings").click()
    await page.locator(".toast", has_text="Memory settings saved").wait_for()
    await dialog.get_by_role("button", name="Close").click()

    unrelated = await send(page, "How do I bake sourdough bread?")
    assert await unrelated.locator("details.remembered").count() == 0
    reply = await send(page, "What is my favourite colour?")
    chip = reply.locator("details.remembered")
    assert await chip.locator("summary").inner_text() == "Remembered 1 memory"
    await chip.locator("summary").click()
    remembered = chip.get_by_role("list", name="Memories this reply used")
    await remembered.get_by_text(FACT).wait_for()
    assert "similarity 0." in await remembered.inner_text()
    await web.screenshot(page, "remembered-chip")

    await remembered.get_by_role("button", name="Show in settings").click()
    dialog = page.get_by_role("dialog", name="Settings")
    assert await dialog.get_by_role("tab", name="Memory").get_attribute("aria-selected") == "true"
    row = dialog.locator(".memory-row.highlight")
    await row.get_by_text(FACT).wait_for()
    await until(page, "document.activeElement?.classList.contains('memory-row')")
    await web.screenshot(page, "settings-memory")


async def test_memory_list_adds_edits_deletes_and_forgets_all(web, new_page) -> None:
    page, _ = await new_page(width=375, height=740)
    await sign_in_as_guest(page)
    headers = await session_headers(page)
    dialog = await _open_memory_tab(page)
    for text in ("I live in Lyon", "I prefer metric units", "I have a cat called Miso"):
        await _add(dialog, text)
    heading = dialog.get_by_role("heading", name="Your memories")
    assert await heading.inner_text() == "Your memories (3)"
    assert await dialog.locator(".memory-text").all_inner_texts() == [
        "I have a cat called Miso", "I prefer metric units", "I live in Lyon"]

    await dialog.get_by_role("button", name="Edit memory: I live in Lyon").click()
    await dialog.get_by_role("textbox", name="Edit memory").fill("I live in Lyon, France")
    await dialog.get_by_role("button", name="Save memory", exact=True).click()
    await dialog.locator(".memory-text", has_text="I live in Lyon, France").wait_for()

    await dialog.get_by_role("button", name="Delete memory: I prefer metric units").click()
    await until(page, "document.querySelectorAll('.memory-row').length === 2")
    assert await heading.inner_text() == "Your memories (2)"
    stored = (await web.api.get("/v1/users/me/memories", headers=headers)).json()["data"]
    assert [m["text"] for m in stored] == ["I have a cat called Miso", "I live in Lyon, France"]
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    await dialog.get_by_role("button", name="Forget all memories").click()
    confirm = page.get_by_role("dialog", name="Are you sure?")
    await confirm.get_by_role("button", name="Forget all").click()
    await dialog.get_by_text("Nothing remembered yet.").wait_for()
    assert (await web.api.get("/v1/users/me/memories", headers=headers)).json()["data"] == []
