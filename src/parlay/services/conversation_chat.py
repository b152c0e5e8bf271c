"""`POST /v1/chat/completions` with a `conversation`: the stored history (and the user's
profile preamble) goes before the request's messages; with `store` (default true) the
request's user messages and the reply are appended to the conversation.

The turn is stored only once the upstream answered (non-streaming), or once the stream opened
(streaming: the reply is written `in_progress` and finalised when the stream ends), so a
client retrying after a 502 does not leave duplicate questions behind.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from parlay.db.models.conversations import ConversationItem
from parlay.db.repositories.items import NewItem
from parlay.errors import ApiError, BadRequest, ValidationFailed
from parlay.services.conversations import ID_PATTERN, check_storable, not_found
from parlay.services.items import new_message, text_of
from parlay.services.replies import ReplyService, completion_of
from parlay.services.reply_stream import ReplyStream

log = logging.getLogger("parlay.replies")


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    conversation_id: str
    body: dict[str, Any]           # what goes to the gateway
    new_items: list[NewItem]       # what is stored (empty with store: false)
    model: str


def _user_items(messages: list[Any]) -> list[NewItem]:
    """The request's user messages as items (text; content parts kept when well formed)."""
    items = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        check_storable(content, f"messages.{index}.content")
        if isinstance(content, list) and all(isinstance(part, dict) for part in content):
            try:
                items.append(new_message("user", content))
                continue
            except ValidationFailed:  # parts Parlay cannot keep as parts: keep their text
                content = text_of(content)
        items.append(new_message("user", content if isinstance(content, str) else ""))
    return items


class ConversationChat:
    def __init__(self, replies: ReplyService) -> None:
        self._replies = replies
        self.session = replies.session

    async def prepare(self, user_id: str, body: dict[str, Any]) -> PreparedTurn:
        conversation_id = body.get("conversation")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise BadRequest("'conversation' must be a conversation id", code="invalid_type",
                             param="conversation")
        if not re.fullmatch(ID_PATTERN, conversation_id):
            raise not_found(conversation_id[:100])
        store = body.get("store", True)
        if not isinstance(store, bool):
            raise BadRequest("'store' must be a boolean", code="invalid_type", param="store")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array", code="invalid_value",
                             param="messages")
        conversation = await self._replies.items.conversation(user_id, conversation_id)
        model = body.get("model") or await self._replies.model_for(
            user_id, conversation.model, None)
        history = await self._replies.history(user_id, conversation.id,
                                              conversation.next_position)
        forwarded = {**body, "model": model, "messages": [*history, *messages]}
        try:
            new_items = _user_items(messages) if store else []
        except ValidationFailed as exc:  # OpenAI-compatible route: invalid input is a 400
            raise BadRequest(exc.message, code="invalid_value", param=exc.param) from None
        await self.session.commit()  # no connection is held while the upstream works
        return PreparedTurn(conversation.id, forwarded, new_items, model)

    async def complete(self, user_id: str, turn: PreparedTurn, chat: Any,
                       ) -> tuple[dict[str, Any], list[ConversationItem]]:
        result = await chat.complete(user_id, turn.body)
        if not turn.new_items:
            return result, []
        completion = completion_of(result, turn.model)
        reply = NewItem(role="assistant", content=completion.content, model=completion.model,
                        status=completion.status, usage=completion.usage)
        return result, await self._store(turn, [*turn.new_items, reply])

    async def open_stream(self, user_id: str, turn: PreparedTurn, chat: Any,
                          request_id: str | None,
                          ) -> tuple[Any, list[ConversationItem]]:
        """The events for the client: the gateway's own stream when nothing is stored, else
        a ReplyStream that records the reply while relaying it."""
        if not turn.new_items:
            return await chat.open_stream(user_id, turn.body, request_id=request_id), []
        options = turn.body.get("stream_options")
        client_wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        body = {**turn.body, "stream_options": {**(options if isinstance(options, dict)
                                                   else {}), "include_usage": True}}
        events = await chat.open_stream(user_id, body, request_id=request_id)
        try:
            placeholder = NewItem(role="assistant", content="", status="in_progress",
                                  model=turn.model)
            stored = await self._store(turn, [*turn.new_items, placeholder])
        except BaseException:
            await events.aclose()
            raise
        if not stored:
            return events, []
        stream = ReplyStream(events, item_id=stored[-1].id, conversation_id=turn.conversation_id,
                             sessionmaker=self._replies.sessionmaker,
                             forward_usage=client_wants_usage)
        return stream, stored

    async def _store(self, turn: PreparedTurn, items: list[NewItem]) -> list[ConversationItem]:
        try:
            return await self._replies.append(turn.conversation_id, items)
        except ApiError:  # deleted while the model answered: the client still gets the answer
            log.info("conversation %s deleted during a chat turn; turn not stored",
                     turn.conversation_id)
            return []
