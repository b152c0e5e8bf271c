"""Assistant replies: generate (or stream) the answer to a user message from the stored
history, and regenerate an answer keeping the earlier version.

Messages sent upstream: [the user's profile preamble, if any] + the conversation's completed
and incomplete items in position order (as text) up to the point being answered. No database
connection is held while the upstream works; the reply is stored before the call returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.db.base import utcnow
from parlay.db.models.conversations import Conversation, ConversationItem
from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import items as item_repo
from parlay.db.repositories.items import HistoryRow, NewItem
from parlay.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from parlay.services.chat_messages import chat_messages
from parlay.services.items import ItemService
from parlay.services.reply_stream import ReplyStream
from parlay.services.settings import default_model_for_user, preamble_for_user

# The most items sent upstream as history (the newest ones); the model's context is finite.
HISTORY_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Generation:
    """Per-request choices for a reply; None means "not set"."""

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None

    def sampling(self) -> dict[str, Any]:
        values = {"temperature": self.temperature, "max_tokens": self.max_tokens,
                  "top_p": self.top_p}
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    status: str
    model: str
    usage: dict[str, Any] | None


def completion_of(result: dict[str, Any], model: str) -> Completion:
    choices = result.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content = message.get("content") if isinstance(message.get("content"), str) else ""
    status = "incomplete" if choice.get("finish_reason") == "length" else "completed"
    usage = result.get("usage") if isinstance(result.get("usage"), dict) else None
    return Completion(content, status, str(result.get("model") or model), usage)


class ReplyService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        chat: Any,
        providers: Any,
        sessionmaker: async_sessionmaker[AsyncSession],
        request_id: str | None = None,
    ) -> None:
        self.session = session
        self._chat = chat
        self._providers = providers
        self.sessionmaker = sessionmaker
        self._request_id = request_id
        self.items = ItemService(session)

    # -- new messages --------------------------------------------------------------------

    async def send(
        self,
        user_id: str,
        conversation_id: str,
        items: Sequence[NewItem],
        *,
        generation: Generation,
        generate: bool,
    ) -> tuple[list[ConversationItem], ConversationItem | None]:
        """Store the items; when the last one is a user message (and `generate`), answer it.

        An upstream failure raises after the items are stored: they stay, no reply is made up.
        """
        if not (generate and items[-1].role == "user"):
            return await self.items.add(user_id, conversation_id, items), None
        conversation, model = await self._prepare(user_id, conversation_id, generation)
        stored, body = await self._store_and_build(user_id, conversation, items, model,
                                                   generation)
        result = await self._chat.complete(user_id, body)
        reply = await self._append_reply(conversation.id, completion_of(result, model))
        return stored, reply

    async def send_streaming(
        self,
        user_id: str,
        conversation_id: str,
        items: Sequence[NewItem],
        *,
        generation: Generation,
    ) -> tuple[list[ConversationItem], ConversationItem, ReplyStream]:
        """Store the items and open the reply stream; the reply is stored `in_progress` now
        and finalised by `ReplyStream.finish()`."""
        if items[-1].role != "user":
            raise BadRequest("streaming needs a user message to answer", code="invalid_value",
                             param="role")
        conversation, model = await self._prepare(user_id, conversation_id, generation)
        stored, body = await self._store_and_build(user_id, conversation, items, model,
                                                   generation)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        events = await self._chat.open_stream(user_id, body, request_id=self._request_id)
        try:
            placeholder = NewItem(role="assistant", content="", status="in_progress",
                                  model=model)
            (reply,) = await self.append(conversation.id, [placeholder])
        except BaseException:
            await events.aclose()
            raise
        stream = ReplyStream(events, item_id=reply.id, conversation_id=conversation.id,
                             sessionmaker=self.sessionmaker, forward_usage=False)
        return stored, reply, stream

    # -- regenerate ----------------------------------------------------------------------

    async def regenerate(self, user_id: str, conversation_id: str, item_id: str,
                         generation: Generation) -> ConversationItem:
        """Answer again: an assistant item is replaced (earlier content kept as a version);
        for a user message, the reply after it is regenerated, or made if there is none."""
        item = await self.items.get(user_id, conversation_id, item_id)
        target = await self._target_of(item)
        conversation, model = await self._prepare(user_id, conversation_id, generation)
        if target is None:  # a user message with no reply yet: answer it now
            body = await self._body(user_id, conversation.id, item.position + 1, model,
                                    generation)
            await self.session.commit()
            result = await self._chat.complete(user_id, body)
            return await self._append_reply(conversation.id, completion_of(result, model))
        body = await self._body(user_id, conversation.id, target.position, model, generation)
        await self.session.commit()
        result = await self._chat.complete(user_id, body)
        return await self._replace(target.id, conversation.id, completion_of(result, model))

    async def _target_of(self, item: ConversationItem) -> ConversationItem | None:
        if item.role == "assistant":
            target: ConversationItem | None = item
        elif item.role == "user":
            target = await item_repo.next_after(self.session, item.conversation_id,
                                                item.position)
            if target is not None and target.role != "assistant":
                raise Conflict("the message after this one is not an assistant reply; "
                               "regenerate is possible for the last user message or a reply",
                               code="no_reply_to_regenerate", param="item_id")
        else:
            raise BadRequest(f"a {item.role!r} item cannot be regenerated",
                             code="not_regenerable", param="item_id")
        if target is not None and target.status == "in_progress":
            raise Conflict("this reply is still being written", code="item_in_progress",
                           param="item_id")
        return target

    async def _replace(self, item_id: str, conversation_id: str,
                       completion: Completion) -> ConversationItem:
        target = await self.session.get(ConversationItem, item_id, populate_existing=True)
        if target is None:
            raise NotFound(f"item {item_id!r} was deleted meanwhile", code="item_not_found",
                           param="item_id")
        item_repo.archive_version(self.session, target)
        target.content = completion.content
        target.content_parts = None
        target.status = completion.status
        target.model = completion.model
        target.usage = completion.usage
        target.version += 1
        target.updated_at = utcnow()
        await conversation_repo.touch(self.session, conversation_id)
        await self.items.commit_version_change()
        return target

    # -- shared steps ----------------------------------------------------------------------

    async def _prepare(self, user_id: str, conversation_id: str,
                       generation: Generation) -> tuple[Conversation, str]:
        """The caller's conversation and the model to answer with (known to be served)."""
        conversation = await self.items.conversation(user_id, conversation_id)
        model = await self.model_for(user_id, conversation.model, generation.model)
        return conversation, model

    async def model_for(self, user_id: str, conversation_model: str | None,
                        requested: str | None) -> str:
        """Request > conversation > the user's default > the server's default; an unknown
        model is refused here, before anything is stored."""
        model = (requested or conversation_model
                 or await default_model_for_user(self.session, user_id)
                 or self._providers.default_model())
        if not model:
            raise ServiceUnavailable("no model is available: configure a provider",
                                     code="no_model_available")
        self._providers.resolve(model)
        return model

    async def _store_and_build(self, user_id: str, conversation: Conversation,
                               items: Sequence[NewItem], model: str,
                               generation: Generation,
                               ) -> tuple[list[ConversationItem], dict[str, Any]]:
        """Store the new items and read what the upstream needs in one transaction."""
        stored = await self.items.insert(conversation.id, items)
        body = await self._body(user_id, conversation.id, stored[-1].position + 1, model,
                                generation)
        await self.session.commit()
        return stored, body

    async def _body(self, user_id: str, conversation_id: str, below_position: int, model: str,
                    generation: Generation) -> dict[str, Any]:
        messages = await self.history(user_id, conversation_id, below_position)
        if not any(message["role"] == "user" for message in messages):
            raise BadRequest("there is no user message to answer before this point",
                             code="nothing_to_answer", param="item_id")
        return {"model": model, "messages": messages, **generation.sampling()}

    async def history(self, user_id: str, conversation_id: str,
                      below_position: int) -> list[dict[str, Any]]:
        preamble = await preamble_for_user(self.session, user_id)
        rows = await item_repo.history(self.session, conversation_id,
                                       below_position=below_position, limit=HISTORY_LIMIT)
        messages = [{"role": "system", "content": preamble}] if preamble else []
        return messages + chat_messages(history_item(row) for row in rows)

    async def append(self, conversation_id: str, items: Sequence[NewItem],
                     ) -> list[ConversationItem]:
        """Append and commit (404 if the conversation was deleted while the model answered)."""
        rows = await self.items.insert(conversation_id, items)
        await self.session.commit()
        return rows

    async def _append_reply(self, conversation_id: str,
                            completion: Completion) -> ConversationItem:
        reply = NewItem(role="assistant", content=completion.content, model=completion.model,
                        status=completion.status, usage=completion.usage)
        (item,) = await self.append(conversation_id, [reply])
        return item


def history_item(row: HistoryRow) -> dict[str, Any]:
    """A stored conversation item in OpenAI's item shape (what chat_messages reads)."""
    if row.type != "message" and row.content_parts:
        return row.content_parts[0]
    return {"type": "message", "role": row.role, "content": row.content}
