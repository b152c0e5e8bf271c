"""Step 3 of a reply: where it is written, once.

A `ReplyStore` writes one reply into one conversation, each write in its own short
transaction (no connection is held while the model works):
- `open()`: a streamed reply is stored `in_progress` at once (with the request's own items
  when they wait for the upstream to answer first);
- `checkpoint()`: its text so far, every CHECKPOINT_SECONDS (also the heartbeat that keeps
  the sweeper off live replies);
- `tool_calls()` / `tool_result()`: the model's tool calls (before they run) and each
  result (once it is in), as `function_call` / `function_call_output` items in order (a
  streamed reply moves after them);
- `finish()`: the final text, status, usage and metadata, exactly once, before the client
  sees the end of the reply.
Regenerate replaces an existing reply instead (`target_id`): the earlier content becomes a
version (streamed: at `open()`, the reply then being `in_progress` in place, so checkpoints,
a client leaving and the final write work as for a new reply). When that reply is the
conversation's last item its tool steps are items too (the reply moves after them);
otherwise they are recorded in its metadata (`tool_calls`), since items cannot be inserted
before it.

`ReplySink` is what the run step writes through; the Responses API has its own
(`services/responses/store.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.base import utcnow
from parlay.db.models.conversations import ConversationItem
from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import items as item_repo
from parlay.db.repositories.items import NewItem
from parlay.errors import Conflict, NotFound
from parlay.services.content import storable_text
from parlay.services.conversations import not_found
from parlay.services.items import ItemService, ItemView
from parlay.services.replies.tools import ITEM_STATUS, ToolCall, ToolResult

log = logging.getLogger("parlay.replies")
# While a reply streams, its text so far is saved this often: a crash loses at most this much,
# and the write doubles as the heartbeat that keeps the sweeper off live replies.
CHECKPOINT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    text: str
    status: str  # completed | incomplete (in_progress: a regenerated reply reopened)
    model: str
    usage: dict[str, Any] | None
    metadata: dict[str, Any] | None = None
    finish_reason: str | None = None  # the last model step's
    # Why the loop stopped early: step_limit | tool_timeout | pending_approval (also in
    # metadata["stopped"]).
    stopped: str | None = None
    failure: Exception | None = field(default=None, compare=False)  # what broke the stream


class ReplySink(Protocol):
    """Where the run step writes a reply while it is produced (ReplyStore: a conversation)."""

    @property
    def opened(self) -> bool:
        """Something is stored in progress that `finish` must settle."""
        ...

    @property
    def finished(self) -> bool: ...

    def checkpoint_due(self) -> bool: ...

    def checkpoint(self, text: str) -> None: ...

    async def tool_calls(self, text: str, calls: Sequence[ToolCall]) -> list[str | None]:
        """Record a step's text and tool calls before they run; their item ids."""
        ...

    async def tool_result(self, result: ToolResult) -> str | None:
        """Record one call's result; its item id."""
        ...

    async def finish(self, outcome: ReplyOutcome) -> Any: ...


class ReplyStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], conversation_id: str, *,
                 model: str, pending: Sequence[NewItem] = (), target_id: str | None = None,
                 target_is_last: bool = False, keep_answer_if_deleted: bool = False,
                 after: Callable[[ReplyStore], None] | None = None) -> None:
        self._sessionmaker = sessionmaker
        self.conversation_id = conversation_id
        self._model = model
        self._pending = list(pending)  # the request's own items, written with the first write
        self._target_id = target_id
        # Tool items go before the reply, which moves after them (a placeholder or the target).
        self._moving: str | None = target_id if target_is_last else None
        self._keep_answer_if_deleted = keep_answer_if_deleted
        self._after = after  # told once the reply is stored (must not block)
        self._tool_log: list[dict[str, Any]] = []
        self.items: list[ItemView] = []  # the request's own items, once written
        self._placeholder: str | None = None  # a streamed reply, stored in_progress
        self.gone = False  # the conversation was deleted meanwhile: nothing more is written
        self._finished: ItemView | None = None
        self._finishing: asyncio.Future[ItemView | None] | None = None
        self._last_checkpoint = time.monotonic()
        self._checkpointing: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Store the streamed reply `in_progress` now: after the request's own items, or
        (regenerate) in place of the reply it answers again, whose content becomes a version."""
        if self._target_id is not None:
            reopened = ReplyOutcome(text="", status="in_progress", model=self._model, usage=None)
            await self._replace(self._target_id, reopened, reopening=True)
            self._placeholder = self._target_id
            return
        placeholder = NewItem(role="assistant", content="", status="in_progress",
                              model=self._model)
        rows = await self._append([placeholder])
        if rows:
            self._placeholder = self._moving = rows[-1].id

    @property
    def opened(self) -> bool:
        """A streamed reply is stored in_progress (and must be finished)."""
        return self._placeholder is not None

    @property
    def reply_id(self) -> str | None:
        if self._placeholder is not None:
            return self._placeholder
        return self._finished.id if self._finished is not None else None

    def checkpoint_due(self) -> bool:
        return (self._placeholder is not None and self._finishing is None
                and time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS
                and (self._checkpointing is None or self._checkpointing.done()))

    def checkpoint(self, text: str) -> None:
        """Save the text so far (when `checkpoint_due()`), without waiting for it."""
        if self._placeholder is None:
            return
        self._last_checkpoint = time.monotonic()
        self._checkpointing = asyncio.create_task(self._checkpoint(self._placeholder, text))

    async def tool_calls(self, text: str, calls: Sequence[ToolCall]) -> list[str | None]:
        """Record a round of tool calls before they run: the step's own text (if any), then
        each call; their item ids (None when kept in the reply's metadata)."""
        if self._logs_tools:
            self._tool_log += [_logged(call) for call in calls]
            return [None] * len(calls)
        items = [NewItem(role="assistant", content=storable_text(text), model=self._model)
                 ] if text else []
        items += [_call_item(call, self._model) for call in calls]
        rows = await self._append(items)
        return [row.id for row in rows[len(rows) - len(calls):]] if rows else [None] * len(calls)

    async def tool_result(self, result: ToolResult) -> str | None:
        """Record one call's result, after its call; its item id."""
        if self._logs_tools:
            for entry in self._tool_log:
                if entry["call_id"] == result.call_id and "status" not in entry:
                    entry.update(output=storable_text(result.output), status=result.status)
                    break
            return None
        rows = await self._append([_result_item(result)])
        return rows[-1].id if rows else None

    @property
    def _logs_tools(self) -> bool:
        return self._target_id is not None and self._moving is None

    async def finish(self, outcome: ReplyOutcome) -> ItemView | None:
        """Write the reply's final state; only the first call writes, and the write goes on
        when the caller is cancelled (a client leaving) so a later call finds it done. The
        stored reply, except for a streamed one (None)."""
        if self._finishing is None:
            self._finishing = asyncio.ensure_future(self._finish(outcome))
        return await asyncio.shield(self._finishing)

    async def _finish(self, outcome: ReplyOutcome) -> ItemView | None:
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        if self._tool_log:
            outcome = _with_metadata(outcome, {"tool_calls": self._tool_log})
        if self._placeholder is not None:  # streamed: the client has the text already
            await self._finalize(self._placeholder, outcome)
        elif self._target_id is not None:
            self._finished = await self._replace(self._target_id, outcome)
        else:
            rows = await self._append([_reply_item(outcome)])
            self._finished = rows[-1] if rows else None
        if self._after is not None and not self.gone:
            try:
                self._after(self)
            except Exception:  # an after-reply hook never costs the reply
                log.exception("after-reply hook failed conversation=%s", self.conversation_id)
        return self._finished

    @property
    def finished(self) -> bool:
        return self._finishing is not None

    # -- writes --------------------------------------------------------------------------

    async def _append(self, items: list[NewItem]) -> list[ItemView]:
        """Append the pending items and these (committed); a streamed reply's placeholder
        moves after them so it stays last."""
        if self.gone:
            return []
        batch, self._pending = [*self._pending, *items], []
        own = len(batch) - len(items)
        moving = self._moving is not None
        async with self._sessionmaker() as session:
            try:
                first = await conversation_repo.allocate_positions(
                    session, self.conversation_id, len(batch) + moving, moved=int(moving))
            except LookupError:
                return self._deleted()
            rows = await item_repo.insert_items(session, self.conversation_id, first, batch)
            if self._moving is not None:
                await item_repo.move(session, self._moving, first + len(batch))
            await session.commit()
            views = [ItemView.of(row) for row in rows]
        self.items += views[:own]
        return views[own:]

    def _deleted(self) -> list[ItemView]:
        if not self._keep_answer_if_deleted:
            raise not_found(self.conversation_id)
        log.info("conversation %s deleted during a reply; the rest is not stored",
                 self.conversation_id)
        self.gone = True
        return []

    async def _checkpoint(self, item_id: str, text: str) -> None:
        try:
            async with self._sessionmaker() as session:
                await item_repo.checkpoint(session, item_id, content=storable_text(text))
                await session.commit()
        except Exception as exc:  # a missed checkpoint costs durability, not the reply
            log.warning("reply checkpoint failed item=%s: %s", item_id, exc)

    async def _finalize(self, item_id: str, outcome: ReplyOutcome) -> None:
        """A streamed reply's final state (nothing happens if it was deleted meanwhile)."""
        async with self._sessionmaker() as session:
            await item_repo.finalize(
                session, item_id, content=storable_text(outcome.text), status=outcome.status,
                usage=outcome.usage, meta=outcome.metadata or None)
            await conversation_repo.touch(session, self.conversation_id)
            await session.commit()

    async def _replace(self, item_id: str, outcome: ReplyOutcome, *,
                       reopening: bool = False) -> ItemView:
        """The reply's next version (the current one kept as a version row); `reopening`:
        a streamed regenerate starts, which another one still writing refuses (409)."""
        async with self._sessionmaker() as session:
            target = await session.get(ConversationItem, item_id)
            if target is None:
                raise NotFound(f"item {item_id!r} was deleted meanwhile",
                               code="item_not_found", param="item_id")
            if reopening and target.status == "in_progress":
                raise Conflict("this reply is still being written", code="item_in_progress",
                               param="item_id")
            item_repo.archive_version(session, target)
            target.content = storable_text(outcome.text)
            target.content_parts = None
            target.status = outcome.status
            target.model = outcome.model
            target.usage = outcome.usage
            target.meta = outcome.metadata or None
            target.version += 1
            target.updated_at = utcnow()
            await conversation_repo.touch(session, self.conversation_id)
            items = ItemService(session)
            await items.commit_version_change()
            return (await items.views([target]))[0]


def _reply_item(outcome: ReplyOutcome) -> NewItem:
    return NewItem(role="assistant", content=storable_text(outcome.text), status=outcome.status,
                   model=outcome.model, usage=outcome.usage, meta=outcome.metadata or None)


def _call_item(call: ToolCall, model: str) -> NewItem:
    """OpenAI's `function_call` conversation item; `content` is the arguments' text."""
    part = {"type": "function_call", "call_id": call.id, "name": call.name,
            "arguments": storable_text(call.arguments)}
    return NewItem(type="function_call", role="assistant", content=part["arguments"],
                   content_parts=[part], model=model)


def _result_item(result: ToolResult) -> NewItem:
    """OpenAI's `function_call_output` item; the tool's status is kept in its part."""
    output = storable_text(result.output)
    part = {"type": "function_call_output", "call_id": result.call_id, "output": output,
            "status": result.status}
    return NewItem(type="function_call_output", role="tool", content=output,
                   content_parts=[part], status=ITEM_STATUS[result.status],
                   meta=result.metadata or None)


def _logged(call: ToolCall) -> dict[str, Any]:
    return {"call_id": call.id, "name": call.name, "arguments": storable_text(call.arguments)}


def _with_metadata(outcome: ReplyOutcome, extra: dict[str, Any]) -> ReplyOutcome:
    return replace(outcome, metadata={**(outcome.metadata or {}), **extra})
