"""Sharing from the app: the dialog, the public page in a browser without a session
(Markdown rendered by the same sanitiser, feedback), and revoke making the link 410."""

from __future__ import annotations

from support.browser import has_horizontal_scroll, send, sign_in_as_guest


async def test_share_opens_without_auth_and_revoke_makes_it_gone(web, new_page) -> None:
    owner, _ = await new_page()
    await sign_in_as_guest(owner)
    await send(owner, "!markdown")
    await owner.get_by_role("button", name="Share").click()
    dialog = owner.get_by_role("dialog", name="Share this chat")
    await dialog.get_by_label("Link expires").select_option(label="1 day")
    await dialog.get_by_label("Let viewers leave feedback").check()
    await dialog.get_by_role("button", name="Create link").click()
    link_box = dialog.locator(".share-created").get_by_role("textbox", name="Share link")
    await link_box.wait_for()
    link = await link_box.input_value()
    assert link.startswith(f"{web.url}/share/")
    await dialog.locator(".share-list").get_by_role("button", name="Revoke").wait_for()
    await dialog.locator(".share-created").get_by_role("button", name="Copy link").click()
    assert await owner.evaluate("navigator.clipboard.readText()") == link
    await web.screenshot(owner, "share-dialog")

    viewer, _ = await new_page(width=375, height=740)  # a fresh context: no session
    response = await viewer.goto(link)
    assert response.status == 200
    assert await viewer.evaluate("localStorage.length") == 0
    reply = viewer.locator('article[data-role="assistant"]')
    await reply.locator("table tbody tr").nth(1).wait_for()
    assert await reply.locator("strong", has_text="bold").count() == 1
    await reply.locator("pre code.hljs").wait_for()
    assert await viewer.locator('article[data-role="user"] .content').inner_text() == "!markdown"
    assert not await has_horizontal_scroll(viewer)
    await viewer.get_by_label("Rating").select_option("5")
    await viewer.get_by_label("Comment").fill("clear answer")
    await viewer.get_by_role("button", name="Send feedback").click()
    await viewer.get_by_text("Thank you for your feedback.").wait_for()
    await web.screenshot(viewer, "shared-page")

    await dialog.locator(".share-list").get_by_role("button", name="Revoke").click()
    await dialog.get_by_text("No active links.").wait_for()
    later, watch = await new_page()
    watch.allow(r"status of 410")  # the browser logs the page's own 410 status
    gone = await later.goto(link)
    assert gone.status == 410
    await later.get_by_text("revoked").first.wait_for()
