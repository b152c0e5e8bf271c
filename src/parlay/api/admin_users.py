"""/v1/admin/users: user management (role, disable), for admins."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from parlay.api.auth import UserOut
from parlay.api.deps import AdminUser, Context, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Data, Page
from parlay.services import admin_users as users_service

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=ERROR_RESPONSES)

Role = Literal["guest", "user", "admin"]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: Role | None = None
    disabled: bool | None = None


def page_of(items: list[Any], has_more: bool) -> dict[str, Any]:
    ids = [getattr(item, "id", None) for item in items]
    return {"data": items, "has_more": has_more,
            "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}


@router.get("/users", response_model=Page[UserOut])
async def list_users(
    _admin: AdminUser, session: SessionDep, role: Role | None = None,
    limit: Limit = 20, offset: Offset = 0,
) -> Page[UserOut]:
    users, has_more = await users_service.list_users(session, limit=limit, offset=offset,
                                                     role=role)
    return Page[UserOut](**page_of([UserOut.of(u) for u in users], has_more))


@router.patch("/users/{user_id}", response_model=Data[UserOut])
async def update_user(
    user_id: Annotated[str, Path(max_length=40)], body: UserPatch, admin: AdminUser,
    session: SessionDep, ctx: Context,
) -> Data[UserOut]:
    patch = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    user = await users_service.update_user(session, ctx.principals, actor_id=admin.user_id,
                                           user_id=user_id, patch=patch)
    return Data(data=UserOut.of(user))
