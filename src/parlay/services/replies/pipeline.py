"""Every reply, whichever request asked for it: context -> run -> persist.

The entry points differ only in what they store before the model answers and in the shape
of their answer:
- `chat_completion`: POST /v1/chat/completions. Without `conversation` (and without Parlay
  tools) it is the plain gateway, the upstream's answer relayed as is. With one, the stored
  history goes before the request's messages and, with `store` (default true), the request's
  user messages and the reply are appended only once the upstream answered (streaming: once
  the stream opened), so a retry after a 502 leaves no duplicates.
- `send` / `send_streaming`: POST /v1/conversations/{id}/items. The message is stored first
  and stays stored if the upstream fails.
- `regenerate` / `regenerate_streaming`: POST .../items/{item_id}/regenerate. The reply is
  answered again and replaces the old one, kept as a version; a reply stopped for a tool
  approval continues from the user's decision (`approvals.py`).
A streamed reply is stored `in_progress` once the upstream answered (`_stream`) and
finalised before the stream's last event. What the entry points are given is in `deps.py`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.models.conversations import ConversationItem
from parlay.db.repositories import items as item_repo
from parlay.db.repositories.items import NewItem
from parlay.errors import BadRequest, Conflict, ValidationFailed
from parlay.services.chat import ClosingEvents, check_chat_body, wants_usage
from parlay.services.content import check_item_count
from parlay.services.conversations import ID_PATTERN, not_found
from parlay.services.items import ItemService, ItemView, new_message
from parlay.services.replies.approvals import settle_approvals
from parlay.services.replies.context import ReplyContext, choose_model
from parlay.services.replies.deps import FinishedTurn, Generation, ReplyDeps, tell_after_reply
from parlay.services.replies.persist import ReplyStore
from parlay.services.replies.respond import ChatChunks
from parlay.services.replies.run import ReplyRun
from parlay.services.replies.tools import ToolRunner, function_names


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """What a chat completion with a conversation stored (ids; empty when nothing was)."""

    conversation_id: str
    item_ids: tuple[str, ...] = ()
    reply_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """A chat completion's answer: the chat.completion object, or the stream's events."""

    completion: dict[str, Any] | None = None
    events: AsyncIterator[bytes] | None = None
    stored: StoredTurn | None = None  # with a conversation


@dataclass(frozen=True, slots=True)
class SentItems:
    items: list[ItemView]
    reply: ItemView | None


@dataclass(frozen=True, slots=True)
class StreamedReply:
    items: list[ItemView]  # what the request stored first (none for regenerate)
    reply_id: str
    events: AsyncIterator[bytes]


class ReplyPipeline:
    def __init__(self, deps: ReplyDeps, *, request_id: str | None = None,
                 runner: ToolRunner | None = None) -> None:
        self._deps = deps
        self._chat = deps.chat
        self._request_id = request_id
        self._runner = runner  # given: used for every reply; else asked of deps.tools

    # -- POST /v1/chat/completions -------------------------------------------------------

    async def chat_completion(self, user_id: str, body: dict[str, Any]) -> ChatAnswer:
        """Every chat completion, streamed or not, with a conversation or not."""
        runner = self._runner
        if runner is None and self._deps.tools is not None and (
                "tools" in body or "conversation" in body):  # the only ways to ask for tools
            runner = await self._deps.tools(user_id, body)
        if body.get("conversation") is None and runner is None:  # the plain gateway
            if body.get("stream") is True:
                return ChatAnswer(events=await self._chat.open_stream(
                    user_id, body, request_id=self._request_id))
            return ChatAnswer(completion=await self._chat.complete(user_id, body))
        return await self._chat_turn(user_id, body, runner)

    async def _chat_turn(self, user_id: str, body: dict[str, Any],
                         runner: ToolRunner | None) -> ChatAnswer:
        conversation_id, store = _conversation_fields(body)
        messages = body.get("messages")
        if conversation_id is None:
            check_chat_body(body)  # the model is the request's own
        elif not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array", code="invalid_value",
                             param="messages")
        async with self._deps.sessionmaker() as session:
            model = body.get("model")
            below = None
            if conversation_id is not None:
                conversation = await ItemService(session).conversation(user_id, conversation_id)
                model = model or await self._model_for(session, user_id, conversation.model,
                                                       None)
                below = conversation.next_position
            try:  # the OpenAI-compatible route answers invalid input with 400
                new_items = _user_items(messages) if store else []
            except ValidationFailed as exc:
                raise BadRequest(exc.message, code=exc.code, param=exc.param) from None
            context = await self._context(session, user_id, model, conversation_id, below,
                                          runner, request=messages)
            await session.commit()  # no connection is held while the upstream works
        replies = (ReplyStore(self._deps.sessionmaker, conversation_id, model=model,
                              pending=new_items, keep_answer_if_deleted=True,
                              after=self._after_reply(user_id, model, context))
                   if conversation_id is not None and new_items else None)
        shape = ChatChunks(model, tools=runner is not None, usage=wants_usage(body))
        run = self._run(user_id, {**body, "model": model, **_messages_of(context, body)},
                        runner, replies, context, shape)
        if body.get("stream") is True:
            events = await self._stream(run, replies)
            return ChatAnswer(events=events, stored=_stored(conversation_id, replies))
        completion, outcome = await run.complete()
        if replies is not None:
            await replies.finish(outcome)
        return ChatAnswer(completion=shape.completion(completion, outcome),
                          stored=_stored(conversation_id, replies))

    # -- POST /v1/conversations/{id}/items ------------------------------------------------

    async def send(self, user_id: str, conversation_id: str, items: Sequence[NewItem], *,
                   generation: Generation, generate: bool) -> SentItems:
        """Store the items; when the last one is a user message (and `generate`), answer it.
        An upstream failure raises after the items are stored: they stay, no reply is made up."""
        if not (generate and items[-1].role == "user"):
            async with self._deps.sessionmaker() as session:
                return SentItems(await ItemService(session).add(user_id, conversation_id, items),
                                 None)
        stored, run, replies = await self._answer_new(user_id, conversation_id, items,
                                                      generation)
        _, outcome = await run.complete()
        return SentItems(stored, await replies.finish(outcome))

    async def send_streaming(self, user_id: str, conversation_id: str,
                             items: Sequence[NewItem], *,
                             generation: Generation) -> StreamedReply:
        """Store the items and open the reply's stream; the reply is stored `in_progress`
        now and finalised before the stream's last event."""
        if items[-1].role != "user":
            raise BadRequest("streaming needs a user message to answer", code="invalid_value",
                             param="role")
        stored, run, replies = await self._answer_new(user_id, conversation_id, items,
                                                      generation)
        events = await self._stream(run, replies)
        assert replies.reply_id is not None
        return StreamedReply(stored, replies.reply_id, events)

    async def _answer_new(self, user_id: str, conversation_id: str, items: Sequence[NewItem],
                          generation: Generation,
                          ) -> tuple[list[ItemView], ReplyRun, ReplyStore]:
        async with self._deps.sessionmaker() as session:
            service = ItemService(session)
            conversation = await service.conversation(user_id, conversation_id)
            model = await self._model_for(session, user_id, conversation.model, generation.model)
            runner = await self._runner_for(user_id, conversation.id, model)
            rows = await service.insert(conversation.id, items)
            context = await self._context(session, user_id, model, conversation.id,
                                          rows[-1].position + 1, runner)
            _require_user_message(context)
            await session.commit()
            stored = [ItemView.of(row) for row in rows]
        replies = ReplyStore(self._deps.sessionmaker, conversation.id, model=model,
                             after=self._after_reply(user_id, model, context, stored[-1].id))
        body = {"model": model, **generation.sampling(), **_messages_of(context, {})}
        return stored, self._run(user_id, body, runner, replies, context), replies

    # -- POST /v1/conversations/{id}/items/{item_id}/regenerate ---------------------------

    async def regenerate(self, user_id: str, conversation_id: str, item_id: str,
                         generation: Generation) -> ItemView:
        """Answer again: an assistant item is replaced (earlier content kept as a version);
        for a user message, the reply after it is regenerated, or made if there is none."""
        run, replies = await self._answer_again(user_id, conversation_id, item_id, generation)
        _, outcome = await run.complete()
        reply = await replies.finish(outcome)
        assert reply is not None
        return reply

    async def regenerate_streaming(self, user_id: str, conversation_id: str, item_id: str,
                                   generation: Generation) -> StreamedReply:
        """`regenerate`, streamed: once the upstream answered, the reply's content becomes a
        version and the reply is `in_progress` (or a new one is stored so), finalised
        before the stream's last event."""
        run, replies = await self._answer_again(user_id, conversation_id, item_id, generation)
        events = await self._stream(run, replies)
        assert replies.reply_id is not None
        return StreamedReply([], replies.reply_id, events)

    async def _answer_again(self, user_id: str, conversation_id: str, item_id: str,
                            generation: Generation) -> tuple[ReplyRun, ReplyStore]:
        async with self._deps.sessionmaker() as session:
            service = ItemService(session)
            item = await service.get(user_id, conversation_id, item_id)
            target = await _target_of(session, item)
            conversation = await service.conversation(user_id, conversation_id)
            model = await self._model_for(session, user_id, conversation.model, generation.model)
            runner = await self._runner_for(user_id, conversation.id, model)
            if target is not None:
                await settle_approvals(session, user_id, target)
            below = target.position if target is not None else item.position + 1
            context = await self._context(session, user_id, model, conversation.id, below,
                                          runner)
            _require_user_message(context)
            await session.commit()
        last = target is not None and target.position == conversation.next_position - 1
        replies = ReplyStore(self._deps.sessionmaker, conversation.id, model=model,
                             target_id=target.id if target is not None else None,
                             target_is_last=last)
        body = {"model": model, **generation.sampling(), **_messages_of(context, {})}
        return self._run(user_id, body, runner, replies, context), replies

    # -- shared steps --------------------------------------------------------------------

    async def _context(self, session: AsyncSession, user_id: str, model: str,
                       conversation_id: str | None, below: int | None,
                       runner: ToolRunner | None, *,
                       request: list[dict[str, Any]] | None = None) -> ReplyContext:
        return await self._deps.context_steps.build(ReplyContext(
            user_id=user_id, model=model, session=session, conversation_id=conversation_id,
            below_position=below, request=list(request or ()), runner=runner))

    def _run(self, user_id: str, body: dict[str, Any], runner: ToolRunner | None,
             replies: ReplyStore | None, context: ReplyContext,
             shape: ChatChunks | None = None) -> ReplyRun:
        return ReplyRun(self._chat, user_id, body, runner=runner, store=replies,
                        metadata=context.metadata, max_steps=self._deps.max_steps,
                        shape=shape, request_id=self._request_id)

    @staticmethod
    async def _stream(run: ReplyRun, replies: ReplyStore | None) -> AsyncIterator[bytes]:
        """Open the run's stream (upstream errors raise here, before any byte), store the
        reply `in_progress` (else close the stream), and give the client's events."""
        await run.open()
        if replies is not None:
            try:
                await replies.open()
            except BaseException:
                await run.aclose()
                raise
        return ClosingEvents(run.events(), run.aclose)

    def _after_reply(self, user_id: str, model: str, context: ReplyContext,
                     user_item_id: str | None = None) -> Callable[[ReplyStore], None] | None:
        """What tells the after-reply hooks once `ReplyStore` stored the reply."""
        hooks = self._deps.after_reply
        if not hooks:
            return None

        def tell(store: ReplyStore) -> None:
            own = [item.id for item in store.items if item.role == "user"]
            turn = FinishedTurn(user_id, store.conversation_id, model,
                                context.latest_user_text(), user_item_id or (own or [None])[-1],
                                store.reply_id, context.notes)
            tell_after_reply(hooks, turn)
        return tell

    async def _runner_for(self, user_id: str, conversation_id: str,
                          model: str) -> ToolRunner | None:
        """A conversation reply's runner (the factory sees `{"model", "conversation"}`)."""
        if self._runner is not None or self._deps.tools is None:
            return self._runner
        return await self._deps.tools(user_id, {"model": model,
                                                "conversation": conversation_id})

    async def _model_for(self, session: AsyncSession, user_id: str,
                         conversation_model: str | None, requested: str | None) -> str:
        return await choose_model(session, self._deps.providers, user_id, conversation_model,
                                  requested)


def _require_user_message(context: ReplyContext) -> None:
    if not any(message.get("role") == "user" for message in context.messages()):
        raise BadRequest("there is no user message to answer before this point",
                         code="nothing_to_answer", param="item_id")


def _conversation_fields(body: dict[str, Any]) -> tuple[str | None, bool]:
    conversation_id = body.get("conversation")
    if conversation_id is not None:
        if not isinstance(conversation_id, str) or not conversation_id:
            raise BadRequest("'conversation' must be a conversation id", code="invalid_type",
                             param="conversation")
        if not re.fullmatch(ID_PATTERN, conversation_id):
            raise not_found(conversation_id[:100])
    store = body.get("store", True)
    if not isinstance(store, bool):
        raise BadRequest("'store' must be a boolean", code="invalid_type", param="store")
    return conversation_id, store


def _user_items(messages: list[Any]) -> list[NewItem]:
    """The request's user messages as items, within the content caps."""
    items = []
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            param = f"messages.{index}.content"
            items.append(new_message("user", "" if content is None else content, param=param))
    check_item_count(len(items), "messages")
    return items


def _messages_of(context: ReplyContext, body: dict[str, Any]) -> dict[str, Any]:
    """The context's messages, and its tools after the client's own (a client's entry that
    only named one of them is replaced by it)."""
    fields: dict[str, Any] = {"messages": context.messages()}
    if context.tools:
        offered = function_names(context.tools)
        own = [tool for tool in body.get("tools") or ()
               if not function_names([tool]) & offered]
        fields["tools"] = [*own, *context.tools]
    return fields


def _stored(conversation_id: str | None, replies: ReplyStore | None) -> StoredTurn | None:
    if conversation_id is None:
        return None
    if replies is None:
        return StoredTurn(conversation_id)
    return StoredTurn(conversation_id, tuple(item.id for item in replies.items),
                      replies.reply_id)


async def _target_of(session: AsyncSession, item: ConversationItem) -> ConversationItem | None:
    """The reply that regenerate replaces (None: answer the user message anew)."""
    if item.role == "assistant" and item.type == "message":
        target: ConversationItem | None = item
    elif item.role == "user":
        target = await item_repo.next_after(session, item.conversation_id, item.position)
        if target is not None and (target.role != "assistant" or target.type != "message"):
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
