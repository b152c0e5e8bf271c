"""The `conversation` branch of POST /v1/chat/completions: HTTP glue for
services.conversation_chat. The response keeps OpenAI's exact shape; the stored items are
named in headers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from parlay.api.errors import request_id_of
from parlay.api.sse import EventStreamResponse
from parlay.db.models.conversations import ConversationItem
from parlay.services.conversation_chat import ConversationChat
from parlay.services.replies import ReplyService


def _headers(conversation_id: str, stored: list[ConversationItem]) -> dict[str, str]:
    headers = {"x-parlay-conversation-id": conversation_id}
    if stored:
        headers["x-parlay-reply-id"] = stored[-1].id
        if len(stored) > 1:
            headers["x-parlay-item-id"] = stored[-2].id
    return headers


async def respond_in_conversation(request: Request, user_id: str, body: dict[str, Any],
                                  chat: Any) -> Response:
    ctx = request.app.state.ctx
    request_id = request_id_of(request)
    async with ctx.sessionmaker() as session:
        turns = ConversationChat(ReplyService(
            session, chat=chat, providers=ctx.providers, sessionmaker=ctx.sessionmaker,
            request_id=request_id))
        turn = await turns.prepare(user_id, body)
        if body.get("stream") is True:
            events, stored = await turns.open_stream(user_id, turn, chat, request_id)
            return EventStreamResponse(events, headers=_headers(turn.conversation_id, stored))
        result, stored = await turns.complete(user_id, turn, chat)
    return Response(orjson.dumps(result), media_type="application/json",
                    headers=_headers(turn.conversation_id, stored))
