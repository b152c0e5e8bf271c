"""A streamed response: the Responses API's events for the client, the response's end state
stored before its terminal event is sent, and the upstream cancelled if the client leaves."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from parlay.errors import ApiError, UpstreamError
from parlay.services.replies.persist import CHECKPOINT_SECONDS
from parlay.services.responses.model_step import StepEvents
from parlay.services.responses.run import ResponseRun

log = logging.getLogger("parlay.responses")


class ResponseEventStream:
    """Iterate it for SSE bytes; `aclose()` must be awaited afterwards, also when the client
    went away or the iteration never started (api.sse.EventStreamResponse does)."""

    def __init__(self, run: ResponseRun, events: StepEvents | None, *,
                 finish: Callable[[], Awaitable[None]],
                 heartbeat: Callable[[], Awaitable[None]]) -> None:
        self._run = run
        self._events = events  # None: the model failed before its first event
        self._finish = finish
        self._heartbeat = heartbeat
        self._pending: deque[bytes] = deque(run.opening())
        self._ended = False
        self._finished = False
        self._last_beat = time.monotonic()
        self._beating: asyncio.Task[None] | None = None

    def __aiter__(self) -> ResponseEventStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            if self._events is None:
                await self._end()
                continue
            try:
                event = await anext(self._events)
            except StopAsyncIteration:
                await self._end()
            except ApiError as failure:
                self._run.broke(failure)
                await self._end()
            except Exception:
                log.exception("response stream failed id=%s", self._run.head.id)
                self._run.broke(UpstreamError("the response failed inside Parlay",
                                              code="stream_error"))
                await self._end()
            else:
                self._pending.extend(self._run.apply(event))
                self._maybe_beat()
        return self._pending.popleft()

    async def _end(self) -> None:
        self._ended = True
        await self._close_upstream()
        closing = self._run.close()
        await self._finish_once()  # stored before the client sees the end
        self._pending.extend(closing)

    async def aclose(self) -> None:
        if not self._ended:  # the client went away (or never read)
            self._ended = True
            self._pending.clear()
            self._run.disconnected()
            await self._close_upstream()
            self._run.close()
        await self._finish_once()

    async def _close_upstream(self) -> None:
        if self._events is not None:
            try:
                await self._events.aclose()
            except Exception:
                log.exception("closing the model step failed id=%s", self._run.head.id)

    async def _finish_once(self) -> None:
        if self._finished:
            return
        if self._beating is not None:
            await asyncio.gather(self._beating, return_exceptions=True)
        try:
            await self._finish()
        except Exception:  # the client still gets its answer; the sweep repairs the row
            log.exception("storing the response failed id=%s", self._run.head.id)
        self._finished = True

    def _maybe_beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat < CHECKPOINT_SECONDS:
            return
        if self._beating is not None and not self._beating.done():
            return
        self._last_beat = now
        self._beating = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        try:
            await self._heartbeat()
        except Exception as exc:  # a missed heartbeat costs nothing but an early sweep
            log.warning("response heartbeat failed id=%s: %s", self._run.head.id, exc)
