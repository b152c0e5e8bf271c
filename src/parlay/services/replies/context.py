"""Step 1 of a reply: what the model sees.

The messages are built by an ordered list of steps, each an `async def step(ctx)` filling
the `ReplyContext`: `system` messages first, then `history`, then the request's own
messages; `tools` are offered to the model; `metadata` is recorded on the stored reply.
Adding a step is one line, e.g. memory recall::

    CONTEXT_STEPS.add(recall_memories)   # appends a system message, notes metadata["memories"]

Steps run in the order they were added, in the same database transaction (no upstream call
happens while it is open).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.repositories import items as item_repo
from parlay.db.repositories.items import HistoryRow
from parlay.errors import ServiceUnavailable
from parlay.providers.registry import ProviderRegistry
from parlay.services.chat_messages import chat_messages
from parlay.services.replies.tools import ToolRunner
from parlay.services.settings import build_preamble, default_model_for_user, load_settings

# The most items sent upstream as history (the newest ones); the model's context is finite.
HISTORY_LIMIT = 500
# ReplyContext.notes key: the user's settings (UserSettingsView), read once per reply.
SETTINGS_NOTE = "settings"

Message = dict[str, Any]


@dataclass
class ReplyContext:
    user_id: str
    model: str
    session: AsyncSession
    conversation_id: str | None = None
    below_position: int | None = None  # history: the conversation's items before this one
    request: list[Message] = field(default_factory=list)  # the request's own messages, last
    runner: ToolRunner | None = None
    system: list[Message] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # What steps tell later steps and after-reply hooks (never stored, never sent).
    notes: dict[str, Any] = field(default_factory=dict)

    def messages(self) -> list[Message]:
        return [*self.system, *self.history, *self.request]

    def latest_user_text(self) -> str:
        """The text being answered (what memory recall searches with)."""
        for message in reversed([*self.history, *self.request]):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                return " ".join(str(p.get("text") or "") for p in content or ()
                                if isinstance(p, dict))
        return ""


ContextStep = Callable[[ReplyContext], Awaitable[None]]


class ContextSteps:
    def __init__(self) -> None:
        self._steps: list[ContextStep] = []

    def add(self, step: ContextStep) -> ContextStep:
        """Run `step` after the ones added before it (usable as a decorator)."""
        self._steps.append(step)
        return step

    def names(self) -> list[str]:
        return [step.__name__ for step in self._steps]

    def extended(self, *steps: ContextStep) -> ContextSteps:
        """A copy with more steps after these (e.g. for one app, or a test)."""
        copy = ContextSteps()
        copy._steps = [*self._steps, *steps]
        return copy

    async def build(self, ctx: ReplyContext) -> ReplyContext:
        for step in self._steps:
            await step(ctx)
        return ctx


async def profile_preamble(ctx: ReplyContext) -> None:
    """The user's profile settings as one system message (none for an untouched profile);
    only in conversations: a plain chat completion sends the client's messages as they are."""
    if ctx.conversation_id is None:
        return
    settings = await load_settings(ctx.session, ctx.user_id)
    ctx.notes[SETTINGS_NOTE] = settings  # later steps (memory) read them from here
    preamble = build_preamble(settings.profile_settings)
    if preamble:
        ctx.system.append({"role": "system", "content": preamble})


async def conversation_history(ctx: ReplyContext) -> None:
    """The conversation's completed and incomplete items, oldest first, as chat messages:
    messages as text, tool calls and their outputs as `tool_calls` and `tool` messages."""
    if ctx.conversation_id is None or ctx.below_position is None:
        return
    rows = await item_repo.history(ctx.session, ctx.conversation_id,
                                   below_position=ctx.below_position, limit=HISTORY_LIMIT)
    ctx.history += chat_messages(history_item(row) for row in rows)


def history_item(row: HistoryRow) -> dict[str, Any]:
    """A stored conversation item in OpenAI's item shape (what chat_messages reads)."""
    if row.type != "message" and row.content_parts:
        return row.content_parts[0]
    return {"type": "message", "role": row.role, "content": row.content}


async def offered_tools(ctx: ReplyContext) -> None:
    """The function tools of this reply's ToolRunner, offered to the model."""
    if ctx.runner is not None:
        ctx.tools += ctx.runner.definitions()


async def choose_model(session: AsyncSession, providers: ProviderRegistry, user_id: str,
                       conversation_model: str | None, requested: str | None) -> str:
    """Which model answers: the request's, else the conversation's, else the user's default,
    else the server's. An unknown model is refused here, before anything is stored."""
    model = (requested or conversation_model
             or await default_model_for_user(session, user_id)
             or providers.default_model())
    if not model:
        raise ServiceUnavailable("no model is available: configure a provider",
                                 code="no_model_available")
    providers.resolve(model)
    return model


CONTEXT_STEPS = ContextSteps()
CONTEXT_STEPS.add(profile_preamble)
CONTEXT_STEPS.add(conversation_history)
CONTEXT_STEPS.add(offered_tools)
