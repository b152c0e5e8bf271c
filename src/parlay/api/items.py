"""/v1/conversations/{id}/items: messages, assistant replies (optionally streamed),
edits, regenerate with versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from parlay.api.deps import CurrentUser, SessionDep
from parlay.api.errors import request_id_of
from parlay.api.ids import ConversationId, ItemId, cursor
from parlay.api.schemas import ERROR_RESPONSES, Data, ErrorResponse, Page, ViewOut
from parlay.api.sse import EventStreamResponse
from parlay.db.models.conversations import ConversationItem, ItemVersion
from parlay.services.content import (
    MAX_CONTENT_CHARS,
    MAX_CONTENT_PARTS,
    MAX_CONTENT_TYPE_CHARS,
    MAX_ITEMS_PER_REQUEST,
    MAX_PART_TYPE_CHARS,
    default_parts,
)
from parlay.services.items import ItemService, ItemView, new_message
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


class ItemCreate(GenerationFields):
    """Either one message (`role`, `content`) or OpenAI's `items` list."""

    role: Role | None = None
    content: Content | None = None
    content_type: ContentType = "text"
    items: list[InputItem] | None = Field(default=None, min_length=1,
                                          max_length=MAX_ITEMS_PER_REQUEST)
    generate: bool | None = Field(
        default=None, description="answer a user message with an assistant reply; default "
        "true for a single message, false for an `items` list (OpenAI semantics)")
    stream: bool = Field(default=False, description="stream the reply as text/event-stream")

    @model_validator(mode="after")
    def _one_form(self) -> ItemCreate:
        if self.items is not None and (self.role is not None or self.content is not None):
            raise ValueError("send either `items` or `role` and `content`, not both")
        if self.items is None and (self.role is None or self.content is None):
            raise ValueError("`role` and `content` are required (or an `items` list)")
        if self.stream and self.generate is False:
            raise ValueError("`stream` streams the reply: it needs `generate` (not false)")
        return self


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


async def get_reply_pipeline(request: Request) -> ReplyPipeline:
    return ReplyPipeline(request.app.state.ctx.replies, request_id=request_id_of(request))


Items = Annotated[ItemService, Depends(get_item_service)]
Replies = Annotated[ReplyPipeline, Depends(get_reply_pipeline)]


# The list routes are the hot read path: rows become plain dicts serialised once by orjson,
# instead of pydantic models FastAPI validates again. The dicts are exactly ItemOut /
# Page (tests compare a listed item with the same item read through ItemOut).

def page_response(data: list[dict[str, Any]], *, has_more: bool, total: int) -> Response:
    body = {"object": "list", "data": data, "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "total": total}
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


def version_json(row: ItemVersion, role: str) -> dict[str, Any]:
    return {"version": row.version, "content": row.content,
            "content_parts": row.content_parts or default_parts(role, row.content),
            "status": row.status, "model": row.model, "usage": row.usage,
            "metadata": row.meta or None, "created_at": row.created_at,
            "replaced_at": row.replaced_at, "current": False}


def item_json(item: ConversationItem, versions: list[ItemVersion] | None) -> dict[str, Any]:
    return {"id": item.id, "object": "conversation.item", "type": item.type,
            "conversation_id": item.conversation_id, "role": item.role,
            "content": item.content,
            "content_parts": item.content_parts or default_parts(item.role, item.content),
            "content_type": item.content_type, "status": item.status, "model": item.model,
            "usage": item.usage, "metadata": item.meta or None, "version": item.version,
            "versions": [version_json(v, item.role) for v in versions or ()],
            "created_at": item.created_at, "updated_at": item.updated_at}


async def render(items: ItemService, rows: list[ConversationItem]) -> list[ItemOut]:
    return [ItemOut.of(view) for view in await items.views(rows)]


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
    if body.items is not None:
        batch = [new_message(i.role, as_content(i.content), i.content_type) for i in body.items]
    else:
        assert body.role is not None and body.content is not None
        batch = [new_message(body.role, as_content(body.content), body.content_type)]
    if body.stream:
        streamed = await replies.send_streaming(user.user_id, conversation_id, batch,
                                                generation=body.generation())
        headers = {"x-parlay-item-id": streamed.items[-1].id,
                   "x-parlay-reply-id": streamed.reply_id}
        return EventStreamResponse(streamed.events, headers=headers, status_code=201)
    generate = body.generate if body.generate is not None else body.items is None
    sent = await replies.send(user.user_id, conversation_id, batch,
                              generation=body.generation(), generate=generate)
    reply = ItemOut.of(sent.reply) if sent.reply is not None else None
    if body.items is None:
        return ItemCreated(data=ItemOut.of(sent.items[0]), reply=reply)
    return ItemsCreated(data=[ItemOut.of(item) for item in sent.items], has_more=False,
                        first_id=sent.items[0].id, last_id=sent.items[-1].id, reply=reply)


@router.get("/{conversation_id}/items", response_model=Page[ItemOut])
async def list_items(
    conversation_id: ConversationId, user: CurrentUser, items: Items,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    after: Annotated[str | None, cursor("an item id: the page starts after it")] = None,
    order: Annotated[Order, Query(description="asc: oldest first")] = "asc",
) -> Response:
    page = await items.list(user.user_id, conversation_id, limit=limit, offset=offset,
                            after=after, order=order)
    versions = await items.versions_map(page.rows)
    return page_response([item_json(row, versions.get(row.id)) for row in page.rows],
                         has_more=page.has_more, total=page.total)


@router.get("/{conversation_id}/items/{item_id}", response_model=Data[ItemOut])
async def get_item(conversation_id: ConversationId, item_id: ItemId, user: CurrentUser,
                   items: Items) -> Data[ItemOut]:
    return Data(data=ItemOut.of(await items.view(user.user_id, conversation_id, item_id)))


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


@router.post("/{conversation_id}/items/{item_id}/regenerate", response_model=Data[ItemOut],
             responses=UPSTREAM_ERRORS)
async def regenerate_item(
    conversation_id: ConversationId, item_id: ItemId, user: CurrentUser, replies: Replies,
    body: Annotated[GenerationFields | None, Body()] = None,
) -> Data[ItemOut]:
    generation = (body or GenerationFields()).generation()
    item = await replies.regenerate(user.user_id, conversation_id, item_id, generation)
    return Data(data=ItemOut.of(item))


@router.get("/{conversation_id}/items/{item_id}/versions", response_model=Data[list[VersionOut]])
async def item_versions(conversation_id: ConversationId, item_id: ItemId, user: CurrentUser,
                        items: Items) -> Data[list[VersionOut]]:
    """Every version, oldest first; the last one is the current content."""
    item = await items.view(user.user_id, conversation_id, item_id)
    return Data(data=[*(VersionOut.of(v) for v in item.versions), VersionOut.current_of(item)])
