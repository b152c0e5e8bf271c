"""/v1/conversations: create, list (offset or cursor), get with items, update, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, status
from pydantic import BaseModel, Field
from starlette.responses import Response

from parlay.api.deps import CurrentUser, DirectDep, SessionDep
from parlay.api.ids import ID_PATTERN, ConversationId
from parlay.api.items import (
    InputItem,
    ItemOut,
    as_content,
    item_json,
    json_bytes,
    json_response,
    page_json,
)
from parlay.api.schemas import ERROR_RESPONSES, Data, Page, ViewOut
from parlay.services.conversations import (
    ConversationService,
    ConversationStore,
    ConversationView,
)
from parlay.services.items import new_message

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


def conversation_json(view: ConversationView) -> dict[str, Any]:
    """ConversationOut as a plain dict, for the hot routes (see items.json_bytes)."""
    return {"id": view.id, "object": "conversation", "title": view.title,
            "metadata": view.metadata, "model": view.model, "project_id": view.project_id,
            "item_count": view.item_count, "created_at": view.created_at,
            "updated_at": view.updated_at}


class ConversationDetail(ConversationOut):
    items: list[ItemOut] = Field(description="the latest `items_limit` items, oldest first")
    has_more_items: bool


class BulkDelete(BaseModel):
    conversation_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(max_length=1000)


class Deleted(BaseModel):
    deleted_count: int


class ConversationsQuery(BaseModel):
    """GET /v1/conversations: one model, so api/hot_routes.py validates a query exactly as
    FastAPI."""

    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=10_000_000)
    after: str | None = Field(default=None, pattern=ID_PATTERN,
                              description="a conversation id: the page starts after it")
    order: Literal["asc", "desc"] = Field(default="desc", description="by updated_at")
    project_id: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, max_length=200, description="only conversations whose "
                          "title contains this text (case-insensitive)")


class ConversationQuery(BaseModel):
    """GET /v1/conversations/{id}."""

    items_limit: int = Field(default=100, ge=0, le=1000)


async def conversations_page(store: ConversationStore, user_id: str,
                             query: ConversationsQuery) -> bytes:
    page = await store.page(user_id, limit=query.limit, offset=query.offset, after=query.after,
                            order=query.order, project_id=query.project_id, title=query.q)
    return page_json([conversation_json(view) for view in page.rows], has_more=page.has_more,
                     total=page.total)


async def conversation_with_items(store: ConversationStore, user_id: str, conversation_id: str,
                                  query: ConversationQuery) -> bytes:
    """ConversationDetail: the conversation and its latest items."""
    conversation, items = await store.get_with_items(user_id, conversation_id,
                                                     query.items_limit)
    detail = conversation_json(conversation)
    detail["items"] = [item_json(item) for item in items]
    detail["has_more_items"] = conversation.item_count > len(items)
    return json_bytes({"data": detail})


async def get_conversation_service(session: SessionDep) -> ConversationService:
    return ConversationService(session)


async def get_conversation_store(db: DirectDep) -> ConversationStore:
    return ConversationStore(db)


Conversations = Annotated[ConversationService, Depends(get_conversation_service)]
Store = Annotated[ConversationStore, Depends(get_conversation_store)]


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
async def list_conversations(user: CurrentUser, store: Store,
                             query: Annotated[ConversationsQuery, Query()]) -> Response:
    return json_response(await conversations_page(store, user.user_id, query))


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
async def get_conversation(conversation_id: ConversationId, user: CurrentUser, store: Store,
                           query: Annotated[ConversationQuery, Query()]) -> Response:
    return json_response(await conversation_with_items(store, user.user_id, conversation_id,
                                                       query))


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
