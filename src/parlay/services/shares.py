"""Share links: an unguessable token (256 random bits) opening a read-only view of the
conversation as it was when shared (later messages stay private; edits to shared messages
show). Viewers see titles and message text only, never the owner. Expired or revoked -> 410."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import utcnow
from parlay.db.models.conversations import Conversation, ConversationItem, Share, ShareFeedback
from parlay.db.repositories import conversations as conversation_repo
from parlay.db.repositories import items as item_repo
from parlay.db.repositories import shares as repo
from parlay.db.repositories.items import NewItem
from parlay.errors import Forbidden, Gone, NotFound
from parlay.services.conversations import (
    ConversationService,
    PageResult,
    check_storable,
    not_found,
)

# A shared page shows at most this many messages (the first ones).
SHARED_ITEMS_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SharedView:
    share: Share
    conversation: Conversation
    items: list[ConversationItem]
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
                     read_only: bool, allow_feedback: bool) -> Share:
        conversation = await conversation_repo.get_owned(self.session, user_id, conversation_id)
        if conversation is None:
            raise not_found(conversation_id)
        expires_at = utcnow() + timedelta(seconds=expires_in) if expires_in else None
        share = await repo.create_share(
            self.session, user_id=user_id, conversation_id=conversation.id, token=new_token(),
            snapshot_position=conversation.next_position, read_only=read_only,
            allow_feedback=allow_feedback, expires_at=expires_at)
        await self.session.commit()
        return share

    async def list(self, user_id: str, *, limit: int, offset: int,
                   conversation_id: str | None = None) -> PageResult[Share]:
        if conversation_id is not None:
            await ConversationService(self.session).get(user_id, conversation_id)
        rows = list(await repo.list_owned(self.session, user_id, limit=limit + 1, offset=offset,
                                          conversation_id=conversation_id))
        total = await repo.count_owned(self.session, user_id, conversation_id)
        return PageResult(rows[:limit], len(rows) > limit, total)

    async def get(self, user_id: str, share_id: str) -> Share:
        share = await repo.get_owned(self.session, user_id, share_id)
        if share is None:
            raise NotFound(f"no share {share_id!r}", code="share_not_found", param="share_id")
        return share

    async def revoke(self, user_id: str, share_id: str) -> None:
        """Idempotent: revoking a revoked share is fine."""
        share = await self.get(user_id, share_id)
        if share.revoked_at is None:
            share.revoked_at = utcnow()
            await self.session.commit()

    async def feedback(self, user_id: str, share_id: str, *, limit: int, offset: int,
                       ) -> list[ShareFeedback]:
        share = await self.get(user_id, share_id)
        return list(await repo.list_feedback(self.session, share.id, limit=limit,
                                             offset=offset))

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
        share, conversation = await self.active(token)
        rows = list(await item_repo.shared(self.session, conversation.id,
                                           below_position=share.snapshot_position,
                                           limit=SHARED_ITEMS_LIMIT + 1))
        return SharedView(share, conversation, rows[:SHARED_ITEMS_LIMIT],
                          len(rows) > SHARED_ITEMS_LIMIT)

    async def add_feedback(self, token: str, rating: int | None,
                           comment: str | None) -> ShareFeedback:
        check_storable(comment, "comment")
        share, _ = await self.active(token)
        if not share.allow_feedback:
            raise Forbidden("this share does not take feedback", code="feedback_disabled")
        feedback = await repo.add_feedback(self.session, share.id, rating, comment)
        await self.session.commit()
        return feedback

    async def fork(self, token: str, viewer_id: str) -> Conversation:
        """Copy the shared messages into a new conversation of the signed-in viewer."""
        view = await self.view(token)
        if view.share.read_only:
            raise Forbidden("this share is read-only; the owner did not allow copies",
                            code="share_read_only")
        copies = [NewItem(role=item.role, content=item.content,
                          content_parts=item.content_parts, content_type=item.content_type,
                          status=item.status, model=item.model)
                  for item in view.items]
        return await ConversationService(self.session).create(
            viewer_id, title=view.conversation.title, model=view.conversation.model,
            metadata={"forked_from_share": view.share.id}, items=copies)
