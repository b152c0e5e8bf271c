"""The Responses API: create (answer now, or stream), read, delete, list input items.

A thin adapter over one model step (`model_step.ModelStep`): the request becomes a turn
(context.py), the step's events become output items and stream events (run.py), and the
storage rules (store.py) keep it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.repositories import responses as repo
from parlay.errors import ApiError, UpstreamError
from parlay.providers.registry import ProviderRegistry
from parlay.services.conversations import invalid_cursor
from parlay.services.responses.context import PreparedTurn, prepare_turn, response_not_found
from parlay.services.responses.model_step import ModelStep, StepEvents
from parlay.services.responses.request import ResponseRequest, parse_request
from parlay.services.responses.run import ResponseRun
from parlay.services.responses.store import ResponseStore, stored_view
from parlay.services.responses.stream import ResponseEventStream

log = logging.getLogger("parlay.responses")


class ResponseService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *,
                 providers: ProviderRegistry, step: ModelStep) -> None:
        self._sessionmaker = sessionmaker
        self._providers = providers
        self._step = step
        self._store = ResponseStore(sessionmaker)

    async def create(self, user_id: str, body: dict[str, Any],
                     ) -> dict[str, Any] | ResponseEventStream:
        """The Response object, or (stream: true) its event stream. Bad requests and
        refusals raise; an upstream failure is a `failed` response, not an exception."""
        request = parse_request(body)
        turn = await self._prepare(user_id, request)
        run = ResponseRun(turn.head, stream=request.stream)
        events = await self._start(turn, run)
        if request.stream:
            return self._streamed(turn, run, events)
        if events is not None:
            await _consume(run, events)
        run.close()
        await self._store.save(turn, run)
        return run.render()

    async def _prepare(self, user_id: str, request: ResponseRequest) -> PreparedTurn:
        async with self._sessionmaker() as session:
            turn = await prepare_turn(session, self._providers, user_id, request)
            await session.commit()  # no connection is held while the model works
        return turn

    async def _start(self, turn: PreparedTurn, run: ResponseRun) -> StepEvents | None:
        try:
            return await self._step.start(turn.call)
        except UpstreamError as failure:  # the upstream failed: a `failed` response
            run.broke(failure)
            return None

    def _streamed(self, turn: PreparedTurn, run: ResponseRun,
                        events: StepEvents | None) -> ResponseEventStream:
        """The event stream. The `in_progress` row is written while the first events go out
        (not before them); the end state waits for that write, then updates it."""
        placeholder = (asyncio.create_task(self._store.start(turn, run))
                       if events is not None else None)

        async def finish() -> None:
            if placeholder is not None and await _succeeded(placeholder):
                await self._store.finish(turn, run)
            else:  # failed before the first event, or the placeholder was not written
                await self._store.save(turn, run)

        async def heartbeat() -> None:
            if placeholder is not None and placeholder.done():
                await self._store.heartbeat(turn)

        return ResponseEventStream(run, events, finish=finish, heartbeat=heartbeat)

    # -- stored responses --------------------------------------------------------------------

    async def get(self, user_id: str, response_id: str) -> dict[str, Any]:
        async with self._sessionmaker() as session:
            row = await repo.get_owned(session, user_id, response_id)
            if row is None:
                raise response_not_found(response_id)
            return stored_view(row)

    async def delete(self, user_id: str, response_id: str) -> dict[str, Any]:
        async with self._sessionmaker() as session:
            if not await repo.delete_owned(session, user_id, response_id):
                raise response_not_found(response_id)
            await session.commit()
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    async def input_items(self, user_id: str, response_id: str, *, limit: int,
                          after: str | None, order: Literal["asc", "desc"],
                          ) -> dict[str, Any]:
        """OpenAI's list of a response's input items (newest first by default)."""
        async with self._sessionmaker() as session:
            row = await repo.get_owned(session, user_id, response_id)
        if row is None:
            raise response_not_found(response_id)
        items = row.input_items if order == "asc" else row.input_items[::-1]
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise invalid_cursor(after)
            items = items[ids.index(after) + 1:]
        data = items[:limit]
        return {"object": "list", "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": len(items) > limit}


async def _succeeded(task: asyncio.Task[None]) -> bool:
    try:
        await task
    except Exception:
        log.exception("storing a streamed response as in_progress failed")
        return False
    return True


async def _consume(run: ResponseRun, events: StepEvents) -> None:
    try:
        async for event in events:
            run.apply(event)
    except ApiError as failure:
        run.broke(failure)
    finally:
        await events.aclose()
