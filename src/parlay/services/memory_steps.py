"""Memory in the reply pipeline: recall is a context step, extraction an after-reply hook.

In conversations only, like the profile preamble: a plain chat completion is sent as the
client wrote it. The recalled memories become one system message after the profile's, and
their ids (never their text) go on the reply item's `metadata.memories`, so a UI can show
what was remembered and a forgotten memory leaves no copy behind.
"""

from __future__ import annotations

import logging
from typing import Any

from parlay.services.embedder import Embedder
from parlay.services.memory_extraction import schedule_extraction
from parlay.services.memory_recall import MemoryRuntime, recall_for_reply
from parlay.services.replies import AfterReply, ContextStep, FinishedTurn, ReplyContext
from parlay.services.replies.context import SETTINGS_NOTE

log = logging.getLogger("parlay.memories")
CONFIG_NOTE = "memory_config"


def recall_step(runtime: MemoryRuntime) -> ContextStep:
    async def recall_memories(ctx: ReplyContext) -> None:
        if ctx.conversation_id is None:
            return
        settings = ctx.notes.get(SETTINGS_NOTE)  # read by the profile step already
        config = settings.memory_config if settings is not None else None
        found = await recall_for_reply(runtime, ctx.session, ctx.user_id,
                                       ctx.latest_user_text(), config)
        ctx.notes[CONFIG_NOTE] = found.config
        if found.preamble:
            ctx.system.append({"role": "system", "content": found.preamble})
            ctx.metadata["memories"] = found.used
    return recall_memories


def extraction_hook(runtime: MemoryRuntime) -> AfterReply:
    def extract_memories(turn: FinishedTurn) -> None:
        config = turn.notes.get(CONFIG_NOTE)
        if config is None or not (config.enabled and config.auto_extract):
            return  # the common case costs nothing: no task, no query
        schedule_extraction(runtime, user_id=turn.user_id,
                            conversation_id=turn.conversation_id,
                            item_id=turn.user_item_id, text=turn.user_text, model=turn.model)
    return extract_memories


async def start_memory(ctx: Any, local_model_id: str | None) -> MemoryRuntime:
    """Fill ctx.memory and plug recall and extraction into the reply pipeline. The embedding
    model: PARLAY_MEMORY_EMBEDDING_MODEL, else the local one (`local_model_id`, None when it
    is off or not installed)."""
    model_id = ctx.settings.memory_embedding_model or local_model_id
    if model_id is None:
        log.warning("memory recall and extraction are unavailable: no embedding model (install "
                    "the local one with `make install-local` or set "
                    "PARLAY_MEMORY_EMBEDDING_MODEL); memories are stored without vectors")
    chat = ctx.chat
    runtime = MemoryRuntime(ctx.sessionmaker, Embedder(ctx.providers, chat, model_id), chat,
                            max_per_user=ctx.settings.memory_max_per_user)
    ctx.memory = runtime
    ctx.resources.push_async_callback(runtime.aclose)
    ctx.replies.context_steps = ctx.replies.context_steps.extended(recall_step(runtime))
    ctx.replies.after_reply.append(extraction_hook(runtime))
    return runtime
