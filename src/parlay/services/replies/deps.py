"""What the reply pipeline's entry points are given: `ReplyDeps` (built once at start-up),
a request's `Generation` choices, and the after-reply hooks (`AfterReply`, told a
`FinishedTurn`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.providers.registry import ProviderRegistry
from parlay.services.chat import ChatService
from parlay.services.replies.context import CONTEXT_STEPS, ContextSteps
from parlay.services.replies.run import MAX_STEPS
from parlay.services.replies.tools import ToolRunnerFactory


@dataclass(frozen=True, slots=True)
class FinishedTurn:
    """A user message answered and stored, as after-reply hooks see it."""

    user_id: str
    conversation_id: str
    model: str
    user_text: str
    user_item_id: str | None
    reply_id: str | None
    notes: dict[str, Any]  # the context steps' notes (ReplyContext.notes)


AfterReply = Callable[[FinishedTurn], None]
log = logging.getLogger("parlay.replies")


def tell_after_reply(hooks: Iterable[AfterReply], turn: FinishedTurn) -> None:
    """Tell each hook; one that fails is logged and never fails the reply or the others."""
    for hook in hooks:
        try:
            hook(turn)
        except Exception:
            log.exception("after-reply hook %r failed", hook)


@dataclass
class ReplyDeps:
    """What every reply needs; built once at start-up (`AppContext.replies`)."""

    chat: ChatService
    providers: ProviderRegistry
    sessionmaker: async_sessionmaker[AsyncSession]
    tools: ToolRunnerFactory | None = None  # None: no server-side tools
    max_steps: int = MAX_STEPS  # model calls per reply, tool rounds included
    context_steps: ContextSteps = field(default_factory=lambda: CONTEXT_STEPS)
    # Told after a new user message's reply is stored (not on regenerate); must not block:
    # background work is theirs to start (memory extraction).
    after_reply: list[AfterReply] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Generation:
    """Per-request choices for a conversation reply; None means "not set"."""

    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None

    def sampling(self) -> dict[str, Any]:
        values = {"temperature": self.temperature, "max_tokens": self.max_tokens,
                  "top_p": self.top_p}
        return {key: value for key, value in values.items() if value is not None}
