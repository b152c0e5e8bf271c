"""/v1/users/me/memories: what replies may recall about the user (list, add, edit, forget)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from parlay.api.deps import Context, CurrentUser, SessionDep
from parlay.api.ids import MemoryId, cursor
from parlay.api.items import page_response
from parlay.api.schemas import ERROR_RESPONSES, Data, Page
from parlay.services.memories import MAX_TEXT, MemoryService, MemoryView
from parlay.services.text import StorableText

router = APIRouter(prefix="/v1/users/me/memories", tags=["memories"],
                   responses=ERROR_RESPONSES)

MemoryText = Annotated[StorableText, StringConstraints(strip_whitespace=True, min_length=1,
                                                       max_length=MAX_TEXT)]


class MemoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: MemoryText = Field(description=f"the fact, 1 to {MAX_TEXT} characters")


class MemoryOut(BaseModel):
    id: str
    object: Literal["memory"] = "memory"
    text: str
    source: Literal["manual", "extracted"] = Field(
        description="manual: added through this API; extracted: found by the model in a "
                    "message (`conversation_id`, `item_id` name it while it exists)")
    conversation_id: str | None
    item_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: MemoryView) -> MemoryOut:
        return cls(id=view.id, text=view.text, source=view.source,  # type: ignore[arg-type]
                   conversation_id=view.conversation_id, item_id=view.item_id,
                   created_at=view.created_at, updated_at=view.updated_at)


class Deleted(BaseModel):
    deleted_count: int


def memory_json(view: MemoryView) -> dict[str, Any]:
    """MemoryOut as a plain dict, for the list route (see items.page_response)."""
    return {"id": view.id, "object": "memory", "text": view.text, "source": view.source,
            "conversation_id": view.conversation_id, "item_id": view.item_id,
            "created_at": view.created_at, "updated_at": view.updated_at}


async def get_memory_service(session: SessionDep, ctx: Context) -> MemoryService:
    return MemoryService(session, ctx.memory)


Memories = Annotated[MemoryService, Depends(get_memory_service)]


@router.get("", response_model=Page[MemoryOut])
async def list_memories(
    user: CurrentUser, memories: Memories,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    after: Annotated[str | None, cursor("a memory id: the page starts after it")] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="by created_at")] = "desc",
) -> Response:
    page = await memories.list(user.user_id, limit=limit, offset=offset, after=after,
                               order=order)
    return page_response([memory_json(m) for m in page.rows], has_more=page.has_more,
                         total=page.total)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Data[MemoryOut])
async def create_memory(body: MemoryIn, user: CurrentUser,
                        memories: Memories) -> Data[MemoryOut]:
    return Data(data=MemoryOut.of(await memories.create(user.user_id, body.text)))


@router.delete("", response_model=Data[Deleted])
async def forget_all(user: CurrentUser, memories: Memories) -> Data[Deleted]:
    """Forget every memory of the caller."""
    return Data(data=Deleted(deleted_count=await memories.delete_all(user.user_id)))


@router.get("/{memory_id}", response_model=Data[MemoryOut])
async def get_memory(memory_id: MemoryId, user: CurrentUser,
                     memories: Memories) -> Data[MemoryOut]:
    return Data(data=MemoryOut.of(await memories.get(user.user_id, memory_id)))


@router.patch("/{memory_id}", response_model=Data[MemoryOut])
async def update_memory(memory_id: MemoryId, body: MemoryIn, user: CurrentUser,
                        memories: Memories) -> Data[MemoryOut]:
    return Data(data=MemoryOut.of(await memories.update(user.user_id, memory_id, body.text)))


@router.delete("/{memory_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_memory(memory_id: MemoryId, user: CurrentUser, memories: Memories) -> Response:
    await memories.delete(user.user_id, memory_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
