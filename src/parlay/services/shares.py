"""Share links: an unguessable token (256 random bits) opening a read-only view of the
conversation as it was when shared (later messages stay private; edits to shared messages
show). Viewers see titles and message text only, never the owner. Expired or revoked -> 410."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.models.conversations import Conversation, ConversationItem, Share, ShareFeedback
from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import items as item_repo
from parlay.db.repositories import shares as repo
from parlay.db.repositories.items import NewItem
from parlay.errors import Forbidden, Gone, NotFound
from parlay.services.content import check_storable, default_parts
from parlay.services.conversations import (
    ConversationService,
    ConversationView,
    PageResult,
    not_found,
)

# A shared page shows at most this many messages (the first ones).
SHARED_ITEMS_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ShareView:
    id: str
    conversation_id: str | None
    token: str
    status: str  # active | expired | revoked
    read_only: bool
    allow_feedback: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, share: Share) -> ShareView:
        return cls(id=share.id, conversation_id=share.conversation_id, token=share.token,
                   status=share_status(share), read_only=share.read_only,
                   allow_feedback=share.allow_feedback, expires_at=share.expires_at,
                   revoked_at=share.revoked_at, created_at=share.created_at)


@dataclass(frozen=True, slots=True)
class FeedbackView:
    id: str
    rating: int | None
    comment: str | None
    created_at: datetime

    @classmethod
    def of(cls, feedback: ShareFeedback) -> FeedbackView:
        return cls(id=feedback.id, rating=feedback.rating, comment=feedback.comment,
                   created_at=feedback.created_at)


@dataclass(frozen=True, slots=True)
class SharedItemView:
    """A shared message as viewers see it: no id, no metadata."""

    role: str
    content: str
    content_parts: list[dict[str, Any]]
    content_type: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, item: ConversationItem) -> SharedItemView:
        return cls(role=item.role, content=item.content,
                   content_parts=item.content_parts or default_parts(item.role, item.content),
                   content_type=item.content_type, status=item.status,
                   created_at=item.created_at)


@dataclass(frozen=True, slots=True)
class SharedView:
    share: ShareView
    title: str | None
    model: str | None
    items: list[SharedItemView]
    truncated: bool


def share_status(share: Share, now: datetime | None = None) -> str:
    if share.revoked_at is not None or share.conversation_id is None:
        return "revoked"
    if share.expires_at is not None and share.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def new_token() -> str:
    return secrets.token_urlsafe(32)


class ShareService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- the owner -----------------------------------------------------------------------

    async def create(self, user_id: str, conversation_id: str, *, expires_in: int | None,
                     read_only: bool, allow_feedback: bool) -> ShareView:
        conversation = await conversation_repo.get_owned(self.session, user_id, conversation_id)
        if conversation is None:
            raise not_found(conversation_id)
        expires_at = utcnow() + timedelta(seconds=expires_in) if expires_in else None
        share = await repo.create_share(
            self.session, user_id=user_id, conversation_id=conversation.id, token=new_token(),
            snapshot_position=conversation.next_position, read_only=read_only,
            allow_feedback=allow_feedback, expires_at=expires_at)
        await self.session.commit()
        return ShareView.of(share)

    async def list(self, user_id: str, *, limit: int, offset: int,
                   conversation_id: str | None = None) -> PageResult[ShareView]:
        if conversation_id is not None:
            await ConversationService(self.session).get(user_id, conversation_id)
        rows = list(await repo.list_owned(self.session, user_id, limit=limit + 1, offset=offset,
                                          conversation_id=conversation_id))
        total = await repo.count_owned(self.session, user_id, conversation_id)
        return PageResult([ShareView.of(row) for row in rows[:limit]], len(rows) > limit, total)

    async def get(self, user_id: str, share_id: str) -> ShareView:
        return ShareView.of(await self._owned(user_id, share_id))

    async def _owned(self, user_id: str, share_id: str) -> Share:
        share = await repo.get_owned(self.session, user_id, share_id)
        if share is None:
            raise NotFound(f"no share {share_id!r}", code="share_not_found", param="share_id")
        return share

    async def revoke(self, user_id: str, share_id: str) -> None:
        """Idempotent: revoking a revoked share is fine."""
        share = await self._owned(user_id, share_id)
        if share.revoked_at is None:
            share.revoked_at = utcnow()
            await self.session.commit()

    async def feedback(self, user_id: str, share_id: str, *, limit: int, offset: int,
                       ) -> list[FeedbackView]:
        share = await self._owned(user_id, share_id)
        return [FeedbackView.of(row) for row in await repo.list_feedback(
            self.session, share.id, limit=limit, offset=offset)]

    # -- viewers (no account needed, except to fork) ---------------------------------------

    async def active(self, token: str) -> tuple[Share, Conversation]:
        share = await repo.get_by_token(self.session, token) if token else None
        if share is None:
            raise NotFound("no such share link", code="share_not_found", param="token")
        status = share_status(share)
        if status == "revoked":
            raise Gone("this share link was revoked", code="share_revoked")
        if status == "expired":
            raise Gone("this share link has expired", code="share_expired")
        conversation = await self.session.get(Conversation, share.conversation_id)
        if conversation is None:  # deleted between the two reads
            raise Gone("this share link was revoked", code="share_revoked")
        return share, conversation

    async def view(self, token: str) -> SharedView:
        share, conversation, rows, truncated = await self._shared(token)
        return SharedView(ShareView.of(share), conversation.title, conversation.model,
                          [SharedItemView.of(row) for row in rows], truncated)

    async def _shared(self, token: str,
                      ) -> tuple[Share, Conversation, list[ConversationItem], bool]:
        share, conversation = await self.active(token)
        rows = list(await item_repo.shared(self.session, conversation.id,
                                           below_position=share.snapshot_position,
                                           limit=SHARED_ITEMS_LIMIT + 1))
        return share, conversation, rows[:SHARED_ITEMS_LIMIT], len(rows) > SHARED_ITEMS_LIMIT

    async def add_feedback(self, token: str, rating: int | None,
                           comment: str | None) -> FeedbackView:
        check_storable(comment, "comment")
        share, _ = await self.active(token)
        if not share.allow_feedback:
            raise Forbidden("this share does not take feedback", code="feedback_disabled")
        feedback = await repo.add_feedback(self.session, share.id, rating, comment)
        await self.session.commit()
        return FeedbackView.of(feedback)

    async def fork(self, token: str, viewer_id: str) -> ConversationView:
        """Copy the shared messages into a new conversation of the signed-in viewer."""
        share, conversation, rows, _ = await self._shared(token)
        if share.read_only:
            raise Forbidden("this share is read-only; the owner did not allow copies",
                            code="share_read_only")
        copies = [NewItem(role=item.role, content=item.content,
                          content_parts=item.content_parts, content_type=item.content_type,
                          status=item.status, model=item.model)
                  for item in rows]
        return await ConversationService(self.session).create(
            viewer_id, title=conversation.title, model=conversation.model,
            metadata={"forked_from_share": share.id}, items=copies)
