"""Storage rules for responses.

With `store` (the default) a response is kept with its input and output items: at once in
its final state when answered without streaming; when streaming, `in_progress` as its first
events go out (its output follows at the end). A response's final state is written before
the client sees its end. With `conversation` (and `store`), the turn is also appended to the
conversation as items once the response ends (not when it failed: a retry leaves no
duplicates). `store: false` keeps nothing. `ResponseSink` is how the reply pipeline's run
writes a response through these rules (a `ReplySink`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.base import utcnow
from parlay.db.direct import DirectDB
from parlay.db.models.responses import StoredResponse
from parlay.db.repositories import responses as repo
from parlay.db.repositories.items import NewItem
from parlay.errors import ApiError
from parlay.services.chat_messages import hosted_call
from parlay.services.content import text_of
from parlay.services.items import ItemService
from parlay.services.replies import (
    CHECKPOINT_SECONDS,
    AfterReply,
    FinishedTurn,
    ReplyOutcome,
    ToolCall,
    ToolResult,
    tell_after_reply,
)
from parlay.services.responses.context import PreparedTurn
from parlay.services.responses.events import ResponseHead, ResponseShape, render_response

log = logging.getLogger("parlay.responses")


class ResponseStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], direct: DirectDB,
                 after_reply: Sequence[AfterReply] = ()) -> None:
        self._sessionmaker = sessionmaker
        self._direct = direct
        self._after_reply = after_reply

    async def save(self, turn: PreparedTurn, run: ResponseShape) -> None:
        """A response that ended before anything was stored (non-streaming, or failed)."""
        if turn.store:
            await repo.store(self._direct, _row(turn, run))
        await self._add_to_conversation(turn, run)

    async def start(self, turn: PreparedTurn, run: ResponseShape) -> None:
        """A streamed response: kept `in_progress` with its input while it streams."""
        if turn.store:
            await repo.store(self._direct, _row(turn, run))

    async def heartbeat(self, turn: PreparedTurn) -> None:
        """Keeps the crash sweep off a live stream."""
        if turn.store:
            await repo.keep_alive(self._direct, turn.head.id)

    async def finish(self, turn: PreparedTurn, run: ResponseShape) -> None:
        """A streamed response's end state and output, once (nothing if it was deleted
        while it streamed)."""
        if turn.store:
            await repo.finish(self._direct, turn.head.id, {
                "status": run.status, "model": run.model, "output": run.output(),
                "usage": run.usage, "error": run.error_info,
                "incomplete_details": run.incomplete_details,
                "completed_at": _datetime(run.completed_at)})
        await self._add_to_conversation(turn, run)

    async def _add_to_conversation(self, turn: PreparedTurn, run: ResponseShape) -> None:
        conversation_id = turn.head.conversation_id
        if conversation_id is None or not turn.store or run.status == "failed":
            return
        items = conversation_items(turn.input_items, run, turn.reply_metadata)
        async with self._sessionmaker() as session:
            try:
                rows = await ItemService(session).insert(conversation_id, items)
                await session.commit()
            except ApiError:  # deleted while the model answered: the client still gets it
                log.info("conversation %s deleted during a response; turn not stored",
                         conversation_id)
                return
        self._tell_after_reply(turn, run, conversation_id,
                               [(row.id, row.role, row.type) for row in rows])

    def _tell_after_reply(self, turn: PreparedTurn, run: ResponseShape, conversation_id: str,
                          stored: list[tuple[str, str, str]]) -> None:
        """The reply pipeline's after-reply hooks (memory extraction) for a turn that stored
        a user message, as after a conversation reply."""
        users = [item_id for item_id, role, _ in stored if role == "user"]
        if not self._after_reply or not users or not turn.user_text:
            return
        replies = [item_id for item_id, role, kind in stored
                   if role == "assistant" and kind == "message"]
        finished = FinishedTurn(turn.user_id, conversation_id, run.model, turn.user_text,
                                users[-1], replies[-1] if replies else None,
                                turn.context_notes or {})
        tell_after_reply(self._after_reply, finished)


def _row(turn: PreparedTurn, run: ResponseShape) -> dict[str, Any]:
    head = turn.head
    return {
        "id": head.id, "user_id": turn.user_id,
        "previous_response_id": head.previous_response_id,
        "conversation_id": head.conversation_id, "model": run.model, "status": run.status,
        "instructions": head.instructions, "params": head.params,
        "input_items": turn.input_items, "output": run.output(), "usage": run.usage,
        "error": run.error_info, "incomplete_details": run.incomplete_details,
        "created_at": datetime.fromtimestamp(head.created_at, UTC), "updated_at": utcnow(),
        "completed_at": _datetime(run.completed_at)}


def _datetime(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def stored_view(row: StoredResponse) -> dict[str, Any]:
    """A stored response as the Response object."""
    head = ResponseHead(id=row.id, created_at=row.created_at.timestamp(), model=row.model,
                        instructions=row.instructions,
                        previous_response_id=row.previous_response_id,
                        conversation_id=row.conversation_id, params=row.params)
    completed = row.completed_at.timestamp() if row.completed_at is not None else None
    return render_response(head, status=row.status, model=row.model, output=row.output,
                           usage=row.usage, error=row.error,
                           incomplete_details=row.incomplete_details, completed_at=completed)


def conversation_items(input_items: list[dict[str, Any]], run: ResponseShape,
                       reply_metadata: dict[str, Any] | None = None) -> list[NewItem]:
    """The turn as conversation items: input messages and function outputs, then the output
    (messages, function calls); tool items keep OpenAI's item in content_parts[0]. Parlay's
    own tool calls become `function_call` + `function_call_output` pairs, as replies store
    them; MCP listings and approval requests are not kept. `reply_metadata` (the memories
    recalled, ...) goes on the last output message, as on a conversation reply."""
    items = [_conversation_item(item, None, None) for item in input_items
             if item["type"] != "mcp_approval_response"]
    output = [item for item in run.output() if item["type"] in ("message", "function_call")
              or hosted_call(item) is not None]
    for index, item in enumerate(output):
        usage = run.chat_usage if index == len(output) - 1 else None
        found = hosted_call(item)
        if found is None:
            items.append(_conversation_item(item, run.model, usage))
            continue
        name, arguments, text = found
        items += [_conversation_item({"type": "function_call", "call_id": item["id"],
                                      "name": name, "arguments": arguments}, run.model, None),
                  _conversation_item({"type": "function_call_output", "call_id": item["id"],
                                      "output": text}, None, usage)]
    last_reply = next((index for index in reversed(range(len(items)))
                       if items[index].role == "assistant" and items[index].type == "message"),
                      None)
    if reply_metadata and last_reply is not None:
        item = items[last_reply]
        items[last_reply] = replace(item, meta={**(item.meta or {}), **reply_metadata})
    return items


class ResponseSink:
    """The reply pipeline's ReplySink for one response: a streamed one is stored
    `in_progress` alongside its first events (`open()`), kept alive while it streams, and
    settled and stored once before its terminal event; tool rounds are written with it."""

    def __init__(self, store: ResponseStore, turn: PreparedTurn, shape: ResponseShape) -> None:
        self._store = store
        self._turn = turn
        self._shape = shape
        self._placeholder: asyncio.Task[None] | None = None
        self._streaming = False
        self._finishing: asyncio.Future[None] | None = None
        self._last_beat = time.monotonic()
        self._beating: asyncio.Task[None] | None = None

    def open(self) -> None:
        """The stream is open: write the in_progress row while the first events go out."""
        self._streaming = True
        self._placeholder = asyncio.create_task(self._store.start(self._turn, self._shape))

    @property
    def opened(self) -> bool:
        return self._streaming

    @property
    def finished(self) -> bool:
        return self._finishing is not None

    def checkpoint_due(self) -> bool:
        return (self._placeholder is not None and self._placeholder.done()
                and time.monotonic() - self._last_beat >= CHECKPOINT_SECONDS
                and (self._beating is None or self._beating.done()))

    def checkpoint(self, text: str) -> None:
        self._last_beat = time.monotonic()
        self._beating = asyncio.create_task(self._beat())

    async def tool_calls(self, text: str, calls: Sequence[ToolCall]) -> list[str | None]:
        return [None] * len(calls)  # written with the response

    async def tool_result(self, result: ToolResult) -> str | None:
        if self.checkpoint_due():  # a long tool round keeps the row alive too
            self.checkpoint("")
        return None

    async def finish(self, outcome: ReplyOutcome) -> None:
        """Settle the status and store it, once (the write goes on if the caller is
        cancelled)."""
        if self._finishing is None:
            self._finishing = asyncio.ensure_future(self._finish(outcome))
        await asyncio.shield(self._finishing)

    async def _finish(self, outcome: ReplyOutcome) -> None:
        self._shape.settle(outcome)
        if self._beating is not None:
            await asyncio.gather(self._beating, return_exceptions=True)
        if self._placeholder is not None and await _succeeded(self._placeholder):
            await self._store.finish(self._turn, self._shape)
        else:  # not streamed, or the placeholder was not written
            await self._store.save(self._turn, self._shape)

    async def _beat(self) -> None:
        try:
            await self._store.heartbeat(self._turn)
        except Exception as exc:  # a missed heartbeat costs nothing but an early sweep
            log.warning("response heartbeat failed id=%s: %s", self._turn.head.id, exc)


async def _succeeded(task: asyncio.Task[None]) -> bool:
    try:
        await task
    except Exception:
        log.exception("storing a streamed response as in_progress failed")
        return False
    return True


def _conversation_item(item: dict[str, Any], model: str | None,
                       usage: dict[str, Any] | None) -> NewItem:
    status = item.get("status") or "completed"
    if item["type"] == "message":
        parts = item["content"]
        simple = len(parts) == 1 and parts[0]["type"] in ("input_text", "output_text")
        return NewItem(role=item["role"], content=text_of(parts),
                       content_parts=None if simple else parts, status=status, model=model,
                       usage=usage)
    data = {key: value for key, value in item.items() if key not in ("id", "status")}
    if item["type"] == "function_call":  # content: the arguments' text, as replies store it
        return NewItem(type="function_call", role="assistant", content=item["arguments"],
                       content_parts=[data], status=status, model=model, usage=usage)
    output = item.get("output")
    return NewItem(type="function_call_output", role="tool",
                   content=output if isinstance(output, str) else text_of(output or []),
                   content_parts=[data], status=status)
