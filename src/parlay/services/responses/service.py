"""The Responses API: create (answer now, or stream), read, delete, list input items.

A thin adapter over the reply pipeline's run step (`services/replies/run.py`, the one tool
loop): the request becomes a turn (context.py: messages, the functions offered, the hosted
tools Parlay runs, tools.py), the run calls the model and runs the tools, `ResponseShape`
(events.py) turns what happens into output items and stream events, and the storage rules
(store.py) keep it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.direct import DirectDB
from parlay.db.repositories import responses as repo
from parlay.errors import ApiError, UpstreamError
from parlay.providers.registry import ProviderRegistry
from parlay.services.chat import ChatService, ClosingEvents
from parlay.services.conversations import invalid_cursor
from parlay.services.replies import (
    CONTEXT_STEPS,
    MAX_STEPS,
    AfterReply,
    ContextSteps,
    ReplyOutcome,
    ReplyRun,
)
from parlay.services.responses.context import PreparedTurn, prepare_turn, response_not_found
from parlay.services.responses.events import ResponseShape
from parlay.services.responses.request import ResponseRequest, parse_request
from parlay.services.responses.store import ResponseSink, ResponseStore, stored_view
from parlay.services.responses.tools import ResponseToolbox
from parlay.services.tool_registry import ToolRegistry

log = logging.getLogger("parlay.responses")


class ResponseService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], direct: DirectDB, *,
                 providers: ProviderRegistry, chat: ChatService, tools: ToolRegistry,
                 context_steps: ContextSteps = CONTEXT_STEPS,
                 after_reply: Sequence[AfterReply] = (), max_steps: int = MAX_STEPS,
                 request_id: str | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._providers = providers
        self._chat = chat
        self._tools = tools
        self._context_steps = context_steps
        self._max_steps = max_steps
        self._request_id = request_id
        self._store = ResponseStore(sessionmaker, direct, after_reply)

    async def create(self, user_id: str, body: dict[str, Any],
                     ) -> dict[str, Any] | ClosingEvents:
        """The Response object, or (stream: true) its event stream. Bad requests and
        refusals before anything ran raise; an upstream failure is a `failed` response."""
        request = parse_request(body)
        turn = await self._prepare(user_id, request)
        shape = ResponseShape(turn.head, turn.hosted, stream=request.stream)
        sink = ResponseSink(self._store, turn, shape)
        run = ReplyRun(self._chat, user_id, turn.body, runner=self._runner(turn, request),
                       store=sink, shape=shape, max_steps=self._max_steps,
                       request_id=self._request_id, resume=turn.resume)
        if request.stream:
            try:
                await run.open()
            except ApiError as failure:
                _keep_failure(run, failure)
            sink.open()
            return ClosingEvents(run.events(), run.aclose)
        outcome: ReplyOutcome
        try:
            _, outcome = await run.complete()
        except ApiError as failure:
            outcome = _keep_failure(run, failure)
        await sink.finish(outcome)
        return shape.render()

    async def _prepare(self, user_id: str, request: ResponseRequest) -> PreparedTurn:
        async with self._sessionmaker() as session:
            turn = await prepare_turn(session, self._providers, self._tools, user_id, request,
                                      self._context_steps)
            await session.commit()  # no connection is held while the model works
        return turn

    def _runner(self, turn: PreparedTurn, request: ResponseRequest) -> ResponseToolbox | None:
        if not turn.hosted.tools and not turn.hosted.decisions:
            return None
        return ResponseToolbox(self._tools, turn.user_id, turn.hosted,
                               max_calls=request.max_tool_calls)

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


def _keep_failure(run: ReplyRun, failure: ApiError) -> ReplyOutcome:
    """An upstream failure, or any failure once something ran (a tool round), is the
    response's own end (`failed` / `incomplete`); other refusals are HTTP errors."""
    if not isinstance(failure, UpstreamError) and not run.started:
        raise failure
    return run.fail(failure)
