"""A streamed assistant reply: relays the gateway's SSE bytes unchanged while noting the text,
then writes the stored item's final state exactly once, however the stream ended."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import items as item_repo
from parlay.services.chat import SSE_DONE, sse_payloads

log = logging.getLogger("parlay.replies")
# While a reply streams, its text so far is saved this often: a crash loses at most this much,
# and the write doubles as the heartbeat that keeps the sweeper off live replies.
CHECKPOINT_SECONDS = 2.0


class ReplyStream:
    """Iterate it for the client's events; `aclose()` must be awaited afterwards, also when
    the client went away or the iteration never started (api.sse.EventStreamResponse does)."""

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        item_id: str,
        conversation_id: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        forward_usage: bool,
    ) -> None:
        self._events = events
        self.item_id = item_id
        self.conversation_id = conversation_id
        self._sessionmaker = sessionmaker
        self._forward_usage = forward_usage
        self._parts: list[str] = []
        self.done = False
        self.failed = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._finished = False
        self._last_checkpoint = time.monotonic()
        self._checkpointing: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def status(self) -> str:
        if self.done and not self.failed and self.finish_reason != "length":
            return "completed"
        return "incomplete"

    def __aiter__(self) -> ReplyStream:
        return self

    async def __anext__(self) -> bytes:
        while True:
            event = await anext(self._events)
            self._maybe_checkpoint()
            if self._observe(event):
                return event

    def _maybe_checkpoint(self) -> None:
        now = time.monotonic()
        if now - self._last_checkpoint < CHECKPOINT_SECONDS:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._last_checkpoint = now
        self._checkpointing = asyncio.create_task(self._checkpoint(self.text))

    async def _checkpoint(self, text: str) -> None:
        try:
            async with self._sessionmaker() as session:
                await item_repo.checkpoint(session, self.item_id, content=text)
                await session.commit()
        except Exception as exc:  # a missed checkpoint costs durability, not the reply
            log.warning("reply checkpoint failed item=%s: %s", self.item_id, exc)

    async def aclose(self) -> None:
        await self.finish()

    def _observe(self, event: bytes) -> bool:
        """Note what the event says; False for a usage-only event the client did not ask for."""
        forward = True
        for chunk in sse_payloads(event):
            if chunk is SSE_DONE:
                self.done = True
                continue
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk:
                self.failed = True
                continue
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
                if not chunk.get("choices"):
                    forward = self._forward_usage
            self._note_choices(chunk.get("choices"))
        return forward

    def _note_choices(self, choices: Any) -> None:
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                self._parts.append(delta["content"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    async def finish(self) -> None:
        """Close the upstream (cancels it if still running) and store the final state once:
        the whole text as `completed`, or what arrived as `incomplete`."""
        if self._finished:
            return
        self._finished = True
        try:
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                await aclose()
        except Exception:
            log.exception("closing the upstream stream failed item=%s", self.item_id)
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        async with self._sessionmaker() as session:
            await item_repo.finalize(session, self.item_id, content=self.text,
                                     status=self.status, usage=self.usage)
            await conversation_repo.touch(session, self.conversation_id)
            await session.commit()
