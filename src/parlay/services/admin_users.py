"""Admin management of users: list, change role, disable/enable (audited).

Disabling ends the user's sessions at once: refresh tokens are revoked, access tokens issued
before now stop working (also after a later re-enable), and the auth cache of this process
forgets the user, so the next request with their JWT or API key is refused. API keys are not
revoked: they work again once the user is re-enabled.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.models.accounts import User
from parlay.db.repositories import accounts as repo
from parlay.errors import Conflict, NotFound
from parlay.services import audit
from parlay.services.accounts import UserView
from parlay.services.principals import BOOTSTRAP_ADMIN_ID, PrincipalResolver

ROLES = ("guest", "user", "admin")


async def list_users(
    session: AsyncSession, *, limit: int, offset: int, role: str | None = None,
) -> tuple[list[UserView], bool]:
    rows = await repo.list_users(session, limit=limit + 1, offset=offset, role=role)
    return [UserView.of(row) for row in rows[:limit]], len(rows) > limit


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound(f"no user {user_id!r}", code="user_not_found", param="user_id")
    return user


async def update_user(
    session: AsyncSession, principals: PrincipalResolver, *, actor_id: str, user_id: str,
    patch: dict[str, Any],
) -> UserView:
    """Apply `role` and/or `disabled` from `patch`; fields left out keep their values."""
    user = await get_user(session, user_id)
    _refuse_lockout(actor_id, user, patch)
    before = {"role": user.role, "disabled": user.disabled}
    after = {"role": patch.get("role", user.role), "disabled": patch.get("disabled", user.disabled)}
    changes = audit.diff(before, after)
    if changes is None:
        return UserView.of(user)
    user.role = after["role"]
    if after["disabled"] and not user.disabled:
        user.tokens_valid_after = utcnow()
        await repo.revoke_user_refresh_tokens(session, user.id)
    user.disabled = after["disabled"]
    await audit.record(session, actor_id=actor_id, action="user.update", target_type="user",
                       target_id=user.id, changes=changes)
    await session.commit()
    principals.forget_user(user.id)
    return UserView.of(user)


def _refuse_lockout(actor_id: str, user: User, patch: dict[str, Any]) -> None:
    """Admins keep a way in: nobody disables or demotes the bootstrap admin, and an admin
    cannot disable or demote themselves (another admin has to)."""
    demoting = patch.get("role", user.role) != "admin" and user.role == "admin"
    disabling = bool(patch.get("disabled"))
    if not (demoting or disabling):
        return
    if user.id == BOOTSTRAP_ADMIN_ID:
        raise Conflict("the bootstrap admin cannot be disabled or demoted",
                       code="bootstrap_admin_protected", param="user_id")
    if user.id == actor_id:
        raise Conflict("admins cannot disable or demote themselves; ask another admin",
                       code="cannot_lock_out_self", param="user_id")
