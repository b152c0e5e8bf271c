"""GET /v1/admin/usage: every user's token usage by day and model, and the heaviest users."""

from __future__ import annotations

import httpx

from support.asserts import assert_error


async def _chat(client: httpx.AsyncClient, headers: dict, model: str, text: str) -> None:
    response = await client.post("/v1/chat/completions", headers=headers, json={
        "model": model, "messages": [{"role": "user", "content": text}]})
    assert response.status_code == 200, response.text


async def test_admin_sees_everyones_usage(client: httpx.AsyncClient, guest: dict,
                                          other_guest: dict, admin: dict) -> None:
    before = (await client.get("/v1/admin/usage", headers=admin)).json()["data"]
    await _chat(client, guest, "mock-small", "one two three")
    await _chat(client, guest, "mock-large", "one two three four five six seven eight")
    await _chat(client, other_guest, "mock-small", "hi")
    me = [(await client.get("/llm/auth/me", headers=h)).json()["data"]["id"] for h in (guest, other_guest)]

    report = (await client.get("/v1/admin/usage", headers=admin, params={"top": 500})).json()["data"]
    assert report["totals"]["requests"] == before["totals"]["requests"] + 3
    by_user = {u["user_id"]: u for u in report["by_user"]}
    heavy, light = by_user[me[0]], by_user[me[1]]
    assert heavy["requests"] == 2 and light["requests"] == 1 and heavy["role"] == "guest"
    assert heavy["total_tokens"] == heavy["prompt_tokens"] + heavy["completion_tokens"] > light["total_tokens"]
    order = [u["user_id"] for u in report["by_user"]]
    assert order.index(me[0]) < order.index(me[1])  # heaviest first
    tokens = [u["total_tokens"] for u in report["by_user"]]
    assert tokens == sorted(tokens, reverse=True)
    models = {m["model"]: m for m in report["by_model"]}
    assert {"mock-small", "mock-large"} <= set(models)
    assert sum(d["requests"] for d in report["days"]) == report["totals"]["requests"]

    top_one = (await client.get("/v1/admin/usage", headers=admin, params={"top": 1})).json()["data"]
    assert len(top_one["by_user"]) == 1 and top_one["by_user"][0] == report["by_user"][0]


async def test_usage_report_is_for_admins_only(client: httpx.AsyncClient, guest: dict,
                                               admin: dict) -> None:
    assert_error(await client.get("/v1/admin/usage", headers=guest), 403, "admin_required")
    assert_error(await client.get("/v1/admin/usage", headers=admin, params={"days": 0}), 422)
