"""/v1/conversations/{id}/items: messages, assistant replies (optionally streamed),
edits, regenerate with versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from parlay.api.deps import CurrentUser, DirectDep, SessionDep
from parlay.api.errors import request_id_of
from parlay.api.ids import ID_PATTERN, ConversationId, ItemId
from parlay.api.schemas import ERROR_RESPONSES, Data, ErrorResponse, Page, ViewOut
from parlay.api.sse import EventStreamResponse
from parlay.services.content import (
    MAX_CONTENT_CHARS,
    MAX_CONTENT_PARTS,
    MAX_CONTENT_TYPE_CHARS,
    MAX_ITEMS_PER_REQUEST,
    MAX_PART_TYPE_CHARS,
)
from parlay.services.items import (
    ItemService,
    ItemStore,
    ItemView,
    NewItem,
    VersionView,
    new_message,
)
from parlay.services.replies import Generation, ReplyPipeline

router = APIRouter(prefix="/v1/conversations", tags=["items"], responses=ERROR_RESPONSES)

Role = Literal["user", "assistant", "system", "developer"]
ItemStatus = Literal["in_progress", "completed", "incomplete", "failed"]
Order = Literal["asc", "desc"]
UPSTREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorResponse, "description": "the model's upstream failed"},
    503: {"model": ErrorResponse, "description": "no model is configured"},
    504: {"model": ErrorResponse, "description": "the model's upstream timed out"},
}
ContentType = Annotated[str, Field(min_length=1, max_length=MAX_CONTENT_TYPE_CHARS)]


class ContentPart(BaseModel):
    """An OpenAI content part (`input_text`, `output_text`, `input_image`, ...)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=MAX_PART_TYPE_CHARS)
    text: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)


# The caps are services.content's (checked there on every path that stores content); the
# schema states them for OpenAPI.
Content = (Annotated[str, Field(max_length=MAX_CONTENT_CHARS)]
           | Annotated[list[ContentPart], Field(min_length=1, max_length=MAX_CONTENT_PARTS)])


def as_content(content: Content) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [part.model_dump(exclude_none=True) for part in content]


class InputItem(BaseModel):
    """OpenAI-style conversation item."""

    type: Literal["message"] = "message"
    role: Role
    content: Content
    content_type: ContentType = "text"


class GenerationFields(BaseModel):
    model: str | None = Field(default=None, min_length=1, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    top_p: float | None = Field(default=None, ge=0, le=1)

    def generation(self) -> Generation:
        return Generation(model=self.model, temperature=self.temperature,
                          max_tokens=self.max_tokens, top_p=self.top_p)


class RegenerateFields(GenerationFields):
    stream: bool = Field(default=False, description="stream the new version as "
                         "text/event-stream (chat.completion.chunk events, as POST .../items "
                         "with `stream`)")


NOT_NULL = {"not": {"type": "null"}}


class ItemCreate(GenerationFields):
    """Either one message (`role`, `content`) or OpenAI's `items` list."""

    # The rules of `_one_form`, stated in the schema.
    model_config = ConfigDict(json_schema_extra={
        "oneOf": [
            {"title": "one message", "required": ["role", "content"], "properties": {
                "role": NOT_NULL, "content": NOT_NULL, "items": {"type": "null"}}},
            {"title": "items", "required": ["items"], "properties": {
                "items": NOT_NULL, "role": {"type": "null"}, "content": {"type": "null"}}},
        ],
        "not": {"required": ["stream", "generate"], "properties": {
            "stream": {"const": True}, "generate": {"const": False}}},
    })

    role: Role | None = None
    content: Content | None = None
    content_type: ContentType = "text"
    items: list[InputItem] | None = Field(default=None, min_length=1,
                                          max_length=MAX_ITEMS_PER_REQUEST)
    generate: bool | None = Field(
        default=None, description="answer a user message with an assistant reply; default "
        "true for a single message, false for an `items` list (OpenAI semantics)")
    stream: bool = Field(default=False, description="stream the reply as text/event-stream "
                         "(answers a user message: `role: user`, or an `items` list ending "
                         "with one)")

    @model_validator(mode="after")
    def _one_form(self) -> ItemCreate:
        if self.items is not None and (self.role is not None or self.content is not None):
            raise ValueError("send either `items` or `role` and `content`, not both")
        if self.items is None and (self.role is None or self.content is None):
            raise ValueError("`role` and `content` are required (or an `items` list)")
        if self.stream and self.generate is False:
            raise ValueError("`stream` streams the reply: it needs `generate` (not false)")
        return self

    def wants_reply(self) -> bool:
        """Answer with an assistant reply? Default: yes for one message, no for `items`."""
        return self.generate if self.generate is not None else self.items is None

    def messages(self) -> list[NewItem]:
        """The messages to store, within the content caps."""
        if self.items is not None:
            return [new_message(i.role, as_content(i.content), i.content_type)
                    for i in self.items]
        assert self.role is not None and self.content is not None
        return [new_message(self.role, as_content(self.content), self.content_type)]


class ItemPatch(BaseModel):
    content: Content
    content_type: ContentType | None = None


class VersionOut(ViewOut):
    version: int
    content: str
    content_parts: list[dict[str, Any]]
    status: ItemStatus
    model: str | None
    usage: dict[str, Any] | None
    metadata: dict[str, Any] | None
    created_at: datetime
    replaced_at: datetime | None = Field(description="null for the current version")
    current: bool = False

    @classmethod
    def current_of(cls, item: ItemView) -> VersionOut:
        return cls(version=item.version, content=item.content,
                   content_parts=item.content_parts, status=item.status, model=item.model,
                   usage=item.usage, metadata=item.metadata, created_at=item.updated_at,
                   replaced_at=None, current=True)


class ItemOut(ViewOut):
    id: str
    object: Literal["conversation.item"] = "conversation.item"
    type: str = Field(description="message, function_call or function_call_output")
    conversation_id: str
    role: str
    content: str
    content_parts: list[dict[str, Any]]
    content_type: str
    status: ItemStatus
    model: str | None
    usage: dict[str, Any] | None
    metadata: dict[str, Any] | None = Field(
        description="what produced the item (e.g. memories used, tool details); null if "
                    "nothing was recorded")
    version: int
    versions: list[VersionOut] = Field(description="earlier versions, oldest first")
    created_at: datetime
    updated_at: datetime


class ItemCreated(BaseModel):
    data: ItemOut
    reply: ItemOut | None = Field(description="the assistant's reply, when one was generated")


class ItemsCreated(Page[ItemOut]):
    reply: ItemOut | None = None


async def get_item_service(session: SessionDep) -> ItemService:
    return ItemService(session)


async def get_item_store(db: DirectDep) -> ItemStore:
    return ItemStore(db)


async def get_reply_pipeline(request: Request) -> ReplyPipeline:
    return ReplyPipeline(request.app.state.ctx.replies, request_id=request_id_of(request))


Items = Annotated[ItemService, Depends(get_item_service)]
Store = Annotated[ItemStore, Depends(get_item_store)]
Replies = Annotated[ReplyPipeline, Depends(get_reply_pipeline)]


# The hot routes (see api/hot_routes.py) render views as plain dicts serialised once by orjson,
# instead of pydantic models FastAPI would validate again. The bytes are exactly the
# response models' own serialisation (tests/test_hot_routes.py compares them).

def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


def json_response(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code, media_type="application/json")


def page_json(data: list[dict[str, Any]], *, has_more: bool, total: int) -> bytes:
    """A Page of already rendered rows."""
    return json_bytes({"object": "list", "data": data, "has_more": has_more,
                       "first_id": data[0]["id"] if data else None,
                       "last_id": data[-1]["id"] if data else None, "total": total})


def page_response(data: list[dict[str, Any]], *, has_more: bool, total: int) -> Response:
    return json_response(page_json(data, has_more=has_more, total=total))


def version_json(view: VersionView) -> dict[str, Any]:
    """VersionOut of an earlier version."""
    return {"version": view.version, "content": view.content,
            "content_parts": view.content_parts, "status": view.status, "model": view.model,
            "usage": view.usage, "metadata": view.metadata, "created_at": view.created_at,
            "replaced_at": view.replaced_at, "current": False}


def item_json(view: ItemView) -> dict[str, Any]:
    """ItemOut."""
    return {"id": view.id, "object": "conversation.item", "type": view.type,
            "conversation_id": view.conversation_id, "role": view.role,
            "content": view.content, "content_parts": view.content_parts,
            "content_type": view.content_type, "status": view.status, "model": view.model,
            "usage": view.usage, "metadata": view.metadata, "version": view.version,
            "versions": [version_json(v) for v in view.versions],
            "created_at": view.created_at, "updated_at": view.updated_at}


class ItemsQuery(BaseModel):
    """GET .../items: one model, so api/hot_routes.py validates a query exactly as FastAPI."""

    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)
    after: str | None = Field(default=None, pattern=ID_PATTERN,
                              description="an item id: the page starts after it")
    order: Order = Field(default="asc", description="asc: oldest first")


async def items_page(store: ItemStore, user_id: str, conversation_id: str,
                     query: ItemsQuery) -> bytes:
    page = await store.page(user_id, conversation_id, limit=query.limit, offset=query.offset,
                            after=query.after, order=query.order)
    return page_json([item_json(view) for view in page.rows], has_more=page.has_more,
                     total=page.total)


async def one_item(store: ItemStore, user_id: str, conversation_id: str, item_id: str) -> bytes:
    return json_bytes({"data": item_json(await store.get(user_id, conversation_id, item_id))})


async def store_only(store: ItemStore, user_id: str, conversation_id: str,
                     body: ItemCreate) -> bytes:
    """POST .../items that asks for no reply: ItemCreated, or ItemsCreated for `items`."""
    views = await store.append(user_id, conversation_id, body.messages())
    data = [item_json(view) for view in views]
    if body.items is None:
        return json_bytes({"data": data[0], "reply": None})
    return json_bytes({"object": "list", "data": data, "has_more": False,
                       "first_id": data[0]["id"], "last_id": data[-1]["id"], "total": None,
                       "reply": None})


@router.post(
    "/{conversation_id}/items", status_code=status.HTTP_201_CREATED,
    response_model=ItemCreated | ItemsCreated,
    responses={**UPSTREAM_ERRORS, 201: {
        "description": "the stored message (and reply); with stream:true a text/event-stream "
                       "of chat.completion.chunk events (headers name the stored items)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def create_items(conversation_id: ConversationId, body: ItemCreate, user: CurrentUser,
                       replies: Replies) -> ItemCreated | ItemsCreated | Response:
    batch = body.messages()
    if body.stream:
        streamed = await replies.send_streaming(user.user_id, conversation_id, batch,
                                                generation=body.generation())
        headers = {"x-parlay-item-id": streamed.items[-1].id,
                   "x-parlay-reply-id": streamed.reply_id}
        return EventStreamResponse(streamed.events, headers=headers, status_code=201)
    sent = await replies.send(user.user_id, conversation_id, batch,
                              generation=body.generation(), generate=body.wants_reply())
    reply = ItemOut.of(sent.reply) if sent.reply is not None else None
    if body.items is None:
        return ItemCreated(data=ItemOut.of(sent.items[0]), reply=reply)
    return ItemsCreated(data=[ItemOut.of(item) for item in sent.items], has_more=False,
                        first_id=sent.items[0].id, last_id=sent.items[-1].id, reply=reply)


@router.get("/{conversation_id}/items", response_model=Page[ItemOut])
async def list_items(conversation_id: ConversationId, user: CurrentUser, store: Store,
                     query: Annotated[ItemsQuery, Query()]) -> Response:
    return json_response(await items_page(store, user.user_id, conversation_id, query))


@router.get("/{conversation_id}/items/{item_id}", response_model=Data[ItemOut])
async def get_item(conversation_id: ConversationId, item_id: ItemId, user: CurrentUser,
                   store: Store) -> Response:
    return json_response(await one_item(store, user.user_id, conversation_id, item_id))


@router.patch("/{conversation_id}/items/{item_id}", response_model=Data[ItemOut])
async def edit_item(conversation_id: ConversationId, item_id: ItemId, body: ItemPatch,
                    user: CurrentUser, items: Items) -> Data[ItemOut]:
    item = await items.edit(user.user_id, conversation_id, item_id,
                            content=as_content(body.content), content_type=body.content_type)
    return Data(data=ItemOut.of(item))


@router.delete("/{conversation_id}/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def delete_item(conversation_id: ConversationId, item_id: ItemId, user: CurrentUser,
                      items: Items) -> Response:
    await items.delete(user.user_id, conversation_id, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{conversation_id}/items/{item_id}/regenerate", response_model=Data[ItemOut],
    responses={**UPSTREAM_ERRORS, 200: {
        "description": "the regenerated reply; with stream:true a text/event-stream of "
                       "chat.completion.chunk events (header x-parlay-reply-id names the reply)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def regenerate_item(
    conversation_id: ConversationId, item_id: ItemId, user: CurrentUser, replies: Replies,
    body: Annotated[RegenerateFields | None, Body()] = None,
) -> Data[ItemOut] | Response:
    fields = body or RegenerateFields()
    if fields.stream:
        streamed = await replies.regenerate_streaming(user.user_id, conversation_id, item_id,
                                                      fields.generation())
        return EventStreamResponse(streamed.events,
                                   headers={"x-parlay-reply-id": streamed.reply_id})
    item = await replies.regenerate(user.user_id, conversation_id, item_id, fields.generation())
    return Data(data=ItemOut.of(item))


@router.get("/{conversation_id}/items/{item_id}/versions", response_model=Data[list[VersionOut]])
async def item_versions(conversation_id: ConversationId, item_id: ItemId, user: CurrentUser,
                        store: Store) -> Data[list[VersionOut]]:
    """Every version, oldest first; the last one is the current content."""
    item = await store.get(user.user_id, conversation_id, item_id)
    return Data(data=[*(VersionOut.of(v) for v in item.versions), VersionOut.current_of(item)])
