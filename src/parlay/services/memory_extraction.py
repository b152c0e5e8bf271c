"""Extraction: after a reply, ask the conversation's model for durable facts in the user's
message and keep the new ones as `source: extracted` memories.

Opt-in (`memory_config.enabled` and `memory_config.auto_extract`), in the background: it never
delays or fails the reply, and every failure (model down, rate limit, unparseable answer,
conversation deleted meanwhile) is logged and dropped.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from parlay.errors import ApiError
from parlay.services.memory_recall import MemoryRuntime
from parlay.services.settings import load_settings
from parlay.services.text import storable

log = logging.getLogger("parlay.memories")

MAX_FACTS = 5          # per message
MAX_FACT_CHARS = 300   # a fact is a sentence, not a paragraph
MAX_MESSAGE_CHARS = 8000
EXTRACTION_PROMPT = """\
You extract durable facts about the user from one message they wrote, for a memory that \
helps future conversations: their name, preferences, relationships, plans, circumstances, \
standing instructions. Skip questions, requests, small talk and anything only true right now.
Write each fact as a short standalone sentence about the user (e.g. "The user is allergic \
to peanuts."). Never invent facts. At most 5.
Answer with JSON only, exactly this shape: {"facts": ["...", "..."]}
With no durable fact, answer {"facts": []}."""
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def extraction_messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": EXTRACTION_PROMPT},
            {"role": "user", "content": text[:MAX_MESSAGE_CHARS]}]


def parse_facts(answer: str) -> list[str]:
    """The facts in a model's answer: `{"facts": [...]}` or a bare list, possibly fenced or
    surrounded by prose. Anything else gives no facts; non-strings and odd sizes are dropped."""
    value = _first_json(_FENCE.sub("", answer.strip()))
    if isinstance(value, dict):
        value = value.get("facts")
    if not isinstance(value, list):
        return []
    facts: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            continue
        fact = " ".join(item.split())
        try:
            storable(fact)
        except ValueError:
            continue
        if fact and len(fact) <= MAX_FACT_CHARS and fact.casefold() not in seen:
            seen.add(fact.casefold())
            facts.append(fact)
    return facts[:MAX_FACTS]


def _first_json(text: str) -> Any:
    """The first JSON object or array in `text`, or None."""
    decoder_starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    for start in sorted(decoder_starts):
        closing = "}" if text[start] == "{" else "]"
        end = text.rfind(closing)
        while end > start:
            try:
                return orjson.loads(text[start:end + 1])
            except orjson.JSONDecodeError:
                end = text.rfind(closing, start, end)
    return None


async def extract_memories(runtime: MemoryRuntime, *, user_id: str, conversation_id: str | None,
                           item_id: str | None, text: str, model: str) -> list[Any]:
    """Ask `model` for the durable facts in `text` (the user's message) and store the ones
    that are new. Returns the stored memories; raises ApiError when the model fails."""
    body = {"model": model, "messages": extraction_messages(text), "temperature": 0,
            "max_tokens": 400}
    result = await runtime.chat.complete(user_id, body)
    choices = result.get("choices") if isinstance(result, dict) else None
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    answer = message.get("content") if isinstance(message, dict) else None
    facts = parse_facts(answer) if isinstance(answer, str) else []
    if not facts:
        return []
    return await runtime.add_extracted(user_id, facts, conversation_id=conversation_id,
                                       item_id=item_id)


async def extract_if_enabled(runtime: MemoryRuntime, *, user_id: str,
                             conversation_id: str | None, item_id: str | None, text: str,
                             model: str) -> list[Any]:
    """The background job: reads the user's switches itself, logs instead of raising."""
    try:
        async with runtime.sessionmaker() as session:
            config = (await load_settings(session, user_id)).memory_config
        if not (config.enabled and config.auto_extract) or not text.strip():
            return []
        stored = await extract_memories(runtime, user_id=user_id,
                                        conversation_id=conversation_id, item_id=item_id,
                                        text=text, model=model)
        if stored:
            log.info("memory: %d facts extracted", len(stored),
                     extra={"fields": {"user_id": user_id, "conversation_id": conversation_id}})
        return stored
    except ApiError as exc:
        log.warning("memory extraction failed: %s: %s", exc.code, exc.message,
                    extra={"fields": {"user_id": user_id, "conversation_id": conversation_id}})
    except Exception:
        log.exception("memory extraction failed",
                      extra={"fields": {"user_id": user_id, "conversation_id": conversation_id}})
    return []


def schedule_extraction(runtime: MemoryRuntime | None, *, user_id: str,
                        conversation_id: str | None, item_id: str | None, text: str,
                        model: str) -> Any:
    """Call after a reply is stored: extraction runs in the background (when the user turned
    it on) and never touches the reply. Returns the task (tests await it) or None."""
    if runtime is None:
        return None
    return runtime.spawn(extract_if_enabled(runtime, user_id=user_id,
                                            conversation_id=conversation_id, item_id=item_id,
                                            text=text, model=model))
