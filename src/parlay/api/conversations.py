"""/v1/conversations: create, list (offset or cursor), get with items, update, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, status
from pydantic import BaseModel, Field
from starlette.responses import Response

from parlay.api.deps import CurrentUser, SessionDep
from parlay.api.ids import ID_PATTERN, ConversationId, cursor
from parlay.api.items import (
    InputItem,
    ItemOut,
    as_content,
    get_item_service,
    page_response,
    render,
)
from parlay.api.schemas import ERROR_RESPONSES, Data, Page, ViewOut
from parlay.db.models.conversations import Conversation
from parlay.services.conversations import ConversationService, ConversationView
from parlay.services.items import ItemService, new_message

router = APIRouter(prefix="/v1/conversations", tags=["conversations"],
                   responses=ERROR_RESPONSES)

Title = Annotated[str, Field(max_length=500)]
ModelId = Annotated[str, Field(min_length=1, max_length=200)]
ProjectId = Annotated[str, Field(min_length=1, max_length=200)]


class ConversationCreate(BaseModel):
    title: Title | None = None
    metadata: dict[str, Any] | None = Field(
        default=None, description="free-form JSON object (at most 64 keys, 16 KB)")
    model: ModelId | None = Field(default=None, description="model for replies in it")
    project_id: ProjectId | None = None
    items: list[InputItem] | None = Field(
        default=None, max_length=100, description="initial items (stored, not answered)")


class ConversationUpdate(BaseModel):
    """Only the fields sent change. `metadata` merges key by key: a null value removes that
    key; `"metadata": null` clears it."""

    title: Title | None = None
    metadata: dict[str, Any] | None = None
    model: ModelId | None = None
    project_id: ProjectId | None = None


class ConversationOut(ViewOut):
    id: str
    object: Literal["conversation"] = "conversation"
    title: str | None
    metadata: dict[str, Any]
    model: str | None
    project_id: str | None
    item_count: int
    created_at: datetime
    updated_at: datetime


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """ConversationOut as a plain dict, for the list route (see items.page_response)."""
    return {"id": conversation.id, "object": "conversation", "title": conversation.title,
            "metadata": conversation.meta, "model": conversation.model,
            "project_id": conversation.project_id, "item_count": conversation.item_count,
            "created_at": conversation.created_at, "updated_at": conversation.updated_at}


class ConversationDetail(ConversationOut):
    items: list[ItemOut] = Field(description="the latest `items_limit` items, oldest first")
    has_more_items: bool


class BulkDelete(BaseModel):
    conversation_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(max_length=1000)


class Deleted(BaseModel):
    deleted_count: int


async def get_conversation_service(session: SessionDep) -> ConversationService:
    return ConversationService(session)


Conversations = Annotated[ConversationService, Depends(get_conversation_service)]
Items = Annotated[ItemService, Depends(get_item_service)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Data[ConversationOut])
async def create_conversation(
    user: CurrentUser, conversations: Conversations,
    body: Annotated[ConversationCreate | None, Body()] = None,
) -> Data[ConversationOut]:
    body = body or ConversationCreate()
    items = [new_message(i.role, as_content(i.content), i.content_type)
             for i in body.items or ()]
    conversation = await conversations.create(
        user.user_id, title=body.title, metadata=body.metadata, model=body.model,
        project_id=body.project_id, items=items)
    return Data(data=ConversationOut.of(conversation))


@router.get("", response_model=Page[ConversationOut])
async def list_conversations(
    user: CurrentUser, conversations: Conversations,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    after: Annotated[str | None, cursor("a conversation id: the page starts after it")] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="by updated_at")] = "desc",
    project_id: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="only conversations whose "
                                   "title contains this text (case-insensitive)")] = None,
) -> Response:
    page = await conversations.list(user.user_id, limit=limit, offset=offset, after=after,
                                    order=order, project_id=project_id, title=q)
    return page_response([conversation_json(c) for c in page.rows], has_more=page.has_more,
                         total=page.total)


@router.post("/bulk-delete", response_model=Data[Deleted])
async def bulk_delete(body: BulkDelete, user: CurrentUser,
                      conversations: Conversations) -> Data[Deleted]:
    """Deletes those of the ids that are the caller's; `deleted_count` counts only them."""
    count = await conversations.bulk_delete(user.user_id, body.conversation_ids)
    return Data(data=Deleted(deleted_count=count))


@router.delete("", response_model=Data[Deleted])
async def delete_all(user: CurrentUser, conversations: Conversations) -> Data[Deleted]:
    """Delete every conversation of the caller."""
    return Data(data=Deleted(deleted_count=await conversations.delete_all(user.user_id)))


@router.get("/{conversation_id}", response_model=Data[ConversationDetail])
async def get_conversation(
    conversation_id: ConversationId, user: CurrentUser, conversations: Conversations, items: Items,
    items_limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> Data[ConversationDetail]:
    conversation, rows = await conversations.get_with_items(user.user_id, conversation_id,
                                                            items_limit)
    out = ConversationOut.of(ConversationView.of(conversation))
    return Data(data=ConversationDetail(
        **out.model_dump(), items=await render(items, rows),
        has_more_items=conversation.item_count > len(rows)))


async def _update(conversation_id: str, body: ConversationUpdate, user_id: str,
                  conversations: ConversationService) -> Data[ConversationOut]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    conversation = await conversations.update(user_id, conversation_id, **changes)
    return Data(data=ConversationOut.of(conversation))


@router.patch("/{conversation_id}", response_model=Data[ConversationOut])
async def patch_conversation(
    conversation_id: ConversationId, body: ConversationUpdate, user: CurrentUser,
    conversations: Conversations,
) -> Data[ConversationOut]:
    return await _update(conversation_id, body, user.user_id, conversations)


@router.post("/{conversation_id}", response_model=Data[ConversationOut])
async def post_conversation(
    conversation_id: ConversationId, body: ConversationUpdate, user: CurrentUser,
    conversations: Conversations,
) -> Data[ConversationOut]:
    """OpenAI-style update: the same as PATCH."""
    return await _update(conversation_id, body, user.user_id, conversations)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def delete_conversation(conversation_id: ConversationId, user: CurrentUser,
                              conversations: Conversations) -> Response:
    await conversations.delete(user.user_id, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
