"""The registry's execution API as the reply pipeline and the Responses API will use it:
a per-user toolbox (OpenAI function definitions + run), outcomes instead of exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from conftest import ADMIN_KEY
from support.mcp_helpers import guest_token, reset_builtins

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str


async def _user_id(client: httpx.AsyncClient, token: str) -> str:
    me = await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {token}"})
    return me.json()["data"]["id"]


async def test_toolbox_offers_and_runs_the_users_tools(app: Any,
                                                       client: httpx.AsyncClient) -> None:
    await reset_builtins(client, ADMIN)
    registry = app.state.ctx.tools
    user_id = await _user_id(client, await guest_token(client))
    box = await registry.toolbox(user_id, only={"code_executor", "web_search"})
    # web_search has no backend in this app: not offered to a model (listed elsewhere).
    assert [d["function"]["name"] for d in box.definitions()] == ["code_executor"]
    definition = box.definitions()[0]
    assert definition["type"] == "function"
    assert definition["function"]["parameters"]["required"] == ["code"]

    done = await box.run(Call("call_1", "code_executor", '{"code": "print(6 * 7)"}'))
    assert (done.call_id, done.status, done.is_error) == ("call_1", "completed", False)
    assert "42" in done.output and done.metadata["tool"] == "code_executor"
    broken = await box.run(Call("call_2", "code_executor", '{"code": '))
    assert broken.status == "failed" and broken.error_code == "invalid_arguments"
    assert "not valid JSON" in broken.output


async def test_outcomes_for_refusals_and_approvals(app: Any,
                                                   client: httpx.AsyncClient) -> None:
    await reset_builtins(client, ADMIN)
    registry = app.state.ctx.tools
    user_id = await _user_id(client, await guest_token(client, tools_on=False))
    assert (await registry.toolbox(user_id)).definitions() == []
    refused = await registry.execute(user_id, "code_executor", {"code": "print(1)"},
                                     source="chat", call_id="call_x")
    assert refused.status == "refused" and refused.error_code == "tool_not_enabled_for_user"

    on_user = await _user_id(client, await guest_token(client))
    await client.patch("/v1/admin/mcp/tools/code_executor", headers=ADMIN, json={
        "content_filter": {"require_approval_for": ["all"]}})
    try:
        paused = await registry.execute(on_user, "code_executor", {"code": "print(1)"},
                                        source="responses", call_id="call_y")
    finally:
        await reset_builtins(client, ADMIN)
    assert paused.status == "pending_approval" and paused.approval_id
    assert paused.metadata["approval_id"] == paused.approval_id
