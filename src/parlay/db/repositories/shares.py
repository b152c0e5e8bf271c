"""SQL for share links and the feedback viewers leave on them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id, utcnow
from parlay.db.models.conversations import Share, ShareFeedback


async def create_share(
    session: AsyncSession,
    *,
    user_id: str,
    conversation_id: str,
    token: str,
    snapshot_position: int,
    read_only: bool,
    allow_feedback: bool,
    expires_at: datetime | None,
) -> Share:
    share = Share(
        id=new_id("shr"), token=token, user_id=user_id, conversation_id=conversation_id,
        snapshot_position=snapshot_position, read_only=read_only,
        allow_feedback=allow_feedback, expires_at=expires_at, created_at=utcnow(),
    )
    session.add(share)
    await session.flush()
    return share


async def get_by_token(session: AsyncSession, token: str) -> Share | None:
    return await session.scalar(select(Share).where(Share.token == token))


async def get_owned(session: AsyncSession, user_id: str, share_id: str) -> Share | None:
    return await session.scalar(
        select(Share).where(Share.id == share_id, Share.user_id == user_id))


async def list_owned(session: AsyncSession, user_id: str, *, limit: int, offset: int,
                     conversation_id: str | None = None) -> Sequence[Share]:
    query = select(Share).where(Share.user_id == user_id)
    if conversation_id is not None:
        query = query.where(Share.conversation_id == conversation_id)
    query = query.order_by(Share.created_at.desc(), Share.id.desc()).offset(offset).limit(limit)
    return (await session.scalars(query)).all()


async def count_owned(session: AsyncSession, user_id: str,
                      conversation_id: str | None = None) -> int:
    query = select(func.count()).select_from(Share).where(Share.user_id == user_id)
    if conversation_id is not None:
        query = query.where(Share.conversation_id == conversation_id)
    return int(await session.scalar(query) or 0)


async def revoke_for_conversations(session: AsyncSession, user_id: str,
                                   conversation_ids: Sequence[str] | None) -> None:
    """Revoke the shares of these conversations (all of the user's when None)."""
    query = update(Share).where(Share.user_id == user_id, Share.revoked_at.is_(None))
    if conversation_ids is None:
        query = query.where(Share.conversation_id.is_not(None))
    else:
        if not conversation_ids:
            return
        query = query.where(Share.conversation_id.in_(conversation_ids))
    await session.execute(query.values(revoked_at=utcnow())
                          .execution_options(synchronize_session=False))


async def add_feedback(session: AsyncSession, share_id: str, rating: int | None,
                       comment: str | None) -> ShareFeedback:
    feedback = ShareFeedback(id=new_id("fbk"), share_id=share_id, rating=rating,
                             comment=comment, created_at=utcnow())
    session.add(feedback)
    await session.flush()
    return feedback


async def list_feedback(session: AsyncSession, share_id: str, *, limit: int, offset: int,
                        ) -> Sequence[ShareFeedback]:
    return (await session.scalars(
        select(ShareFeedback).where(ShareFeedback.share_id == share_id)
        .order_by(ShareFeedback.created_at.desc(), ShareFeedback.id.desc())
        .offset(offset).limit(limit)
    )).all()
