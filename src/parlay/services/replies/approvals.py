"""Continuing a reply that stopped for the user's approval of a tool call.

A call that needs approval is stored as its `function_call_output` item with status
`pending_approval` (item status `incomplete`) and the approval's id in its metadata; the
reply stops there (`incomplete`, `metadata.stopped: "pending_approval"`,
`metadata.approvals: [{approval_id, call_id, item_id}]`). The user decides it through
`/v1/tool-approvals/{id}/approve|reject` (approving runs the call and keeps its result).
Regenerating that reply then continues it: each decided approval becomes its call's output
(the result; or, rejected or expired, a refusal the model reads) and the model answers from
there. An approval still undecided is 409 `approval_pending`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.models.conversations import ConversationItem
from parlay.db.repositories import tool_calls as approval_repo
from parlay.errors import Conflict
from parlay.services.content import storable_text
from parlay.services.replies.tools import ITEM_STATUS

REJECTED = "The user rejected this call; it did not run."
EXPIRED = "The approval expired before the user decided; the call did not run."


async def settle_approvals(session: AsyncSession, user_id: str,
                           reply: ConversationItem) -> None:
    """Before `reply` is answered again: its calls' decided approvals become their outputs
    (flushed; the caller commits)."""
    meta = reply.meta or {}
    if meta.get("stopped") != "pending_approval":
        return
    for entry in meta.get("approvals") or ():
        item = await session.get(ConversationItem, entry.get("item_id") or "")
        if item is None or item.conversation_id != reply.conversation_id:
            continue
        part = dict((item.content_parts or [{}])[0])
        if part.get("status") != "pending_approval":
            continue  # settled by an earlier continue
        status, output, code = await _decision(session, user_id, str(entry["approval_id"]))
        output = storable_text(output)
        item.content = output
        item.content_parts = [{**part, "output": output, "status": status}]
        item.status = ITEM_STATUS[status]
        item.meta = {**(item.meta or {}), "error_code": code, "decided": True}
        item.updated_at = utcnow()
    await session.flush()  # the history read next sees the outputs


async def _decision(session: AsyncSession, user_id: str, approval_id: str
                    ) -> tuple[Any, str, str | None]:
    """(tool status, output, error code) of a decided approval; 409 while it is pending."""
    row = await approval_repo.get_approval(session, user_id, approval_id)
    if row is None:  # deleted with its user's data: nothing ran
        return "refused", EXPIRED, "approval_expired"
    if row.status == "rejected":
        return "refused", REJECTED, "approval_rejected"
    if row.status == "approved" and row.result_status is not None:
        return row.result_status, row.result_output or "", row.result_error_code
    running = row.status == "approved"  # approved, its call still running
    if running or (row.status == "pending" and row.expires_at > utcnow()):
        raise Conflict(f"tool approval {approval_id} is not decided yet: approve or reject it "
                       f"(POST /v1/tool-approvals/{approval_id}/approve), then continue",
                       code="approval_pending", param="item_id")
    return "refused", EXPIRED, "approval_expired"
