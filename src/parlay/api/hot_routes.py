"""The API's hottest routes answered without FastAPI's router: what a chat UI asks on every
page and every message.

    GET /v1/conversations, /v1/conversations/{id}, /v1/conversations/{id}/items,
        /v1/conversations/{id}/items/{item_id}, /v1/users/me/settings, /llm/auth/me
    POST /v1/conversations/{id}/items that asks for no reply (`generate: false`)

Route matching, dependency solving and the exception plumbing cost several times the work
these requests do (bench/api.py). This pure ASGI layer matches the method and path, validates
the query (or body) with the very model the FastAPI route declares, authenticates with the
same dependency function (`deps.get_principal`: auth cache, rate limits) and answers with the
same function the route calls, so the two cannot drift. Whatever it does not accept as it is
(a malformed id, a value out of range, invalid JSON, a reply to generate) goes on untouched,
body included, to FastAPI, whose route answers it: its 422, its reply. The FastAPI routes stay
for OpenAPI and everything else. Like the gateway's fast path it sits inside
RequestContextMiddleware (request id, the one log line, metrics) and the body limit, and
renders failures with the routes' own exception handlers (`errors.render_exception`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlay.api import auth, conversations, items, settings
from parlay.api.deps import get_principal
from parlay.api.errors import render_exception
from parlay.context import AppContext
from parlay.services.conversations import ConversationStore
from parlay.services.items import ItemStore

# An id the FastAPI routes accept (their ID_PATTERN, matched to the end of the text).
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_JSON_HEADERS = [(b"content-type", b"application/json")]
Answer = Callable[[AppContext, str, tuple[str, ...], Any], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    path: str  # the route's template: what metrics read from scope["route"]
    query: type[BaseModel] | None
    answer: Answer | None  # (ctx, user_id, path ids, validated query) -> JSON body


# POST .../items without a reply: its body is items.ItemCreate, answered by _store_only.
STORE_ONLY = HotRoute("/v1/conversations/{conversation_id}/items", None, None)


async def _conversations(ctx: AppContext, user_id: str, _ids: tuple[str, ...],
                         query: conversations.ConversationsQuery) -> bytes:
    return await conversations.conversations_page(ConversationStore(ctx.direct), user_id, query)


async def _conversation(ctx: AppContext, user_id: str, ids: tuple[str, ...],
                        query: conversations.ConversationQuery) -> bytes:
    return await conversations.conversation_with_items(ConversationStore(ctx.direct), user_id,
                                                       ids[0], query)


async def _items(ctx: AppContext, user_id: str, ids: tuple[str, ...],
                 query: items.ItemsQuery) -> bytes:
    return await items.items_page(ItemStore(ctx.direct), user_id, ids[0], query)


async def _item(ctx: AppContext, user_id: str, ids: tuple[str, ...], _query: None) -> bytes:
    return await items.one_item(ItemStore(ctx.direct), user_id, ids[0], ids[1])


async def _settings(ctx: AppContext, user_id: str, _ids: tuple[str, ...], _query: None) -> bytes:
    return await settings.settings_body(ctx.direct, user_id)


async def _me(ctx: AppContext, user_id: str, _ids: tuple[str, ...], _query: None) -> bytes:
    return await auth.me_body(ctx.direct, user_id)


CONVERSATIONS = HotRoute("/v1/conversations", conversations.ConversationsQuery, _conversations)
CONVERSATION = HotRoute("/v1/conversations/{conversation_id}", conversations.ConversationQuery,
                        _conversation)
ITEMS = HotRoute("/v1/conversations/{conversation_id}/items", items.ItemsQuery, _items)
ITEM = HotRoute("/v1/conversations/{conversation_id}/items/{item_id}", None, _item)
STATIC = {"/v1/users/me/settings": HotRoute("/v1/users/me/settings", None, _settings),
          "/llm/auth/me": HotRoute("/llm/auth/me", None, _me),
          "/auth/me": HotRoute("/auth/me", None, _me)}


def match_get(path: str) -> tuple[HotRoute, tuple[str, ...]] | None:
    static = STATIC.get(path)
    if static is not None:
        return static, ()
    parts = path.split("/")  # "", "v1", "conversations", id, "items", item id
    if parts[1:3] != ["v1", "conversations"]:
        return None
    ids = tuple(parts[3::2])
    if not all(_ID.fullmatch(i) for i in ids) or any(p != "items" for p in parts[4::2]):
        return None
    depth = len(parts) - 3  # list, one conversation, its items, one item
    return ((CONVERSATIONS, CONVERSATION, ITEMS, ITEM)[depth], ids) if depth < 4 else None


class HotRoutes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "GET":
                found = match_get(scope["path"])
                if found is not None and await self._get(scope, receive, send, *found):
                    return
            elif method == "POST" and _is_items_path(scope["path"]):
                await self._store_only(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _get(self, scope: Scope, receive: Receive, send: Send, route: HotRoute,
                   ids: tuple[str, ...]) -> bool:
        """Answer, or return False (nothing sent) for FastAPI to answer."""
        query = None
        if route.query is not None:
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            try:
                query = route.query.model_validate(dict(pairs))
            except ValidationError:
                return False
        scope["route"] = route
        request = Request(scope, receive)
        assert route.answer is not None
        try:
            principal = await _principal(request)
            body = await route.answer(scope["app"].state.ctx, principal.user_id, ids, query)
        except Exception as exc:
            await (await render_exception(request, exc))(scope, receive, send)
            return True
        await _send_json(send, 200, body)
        return True

    async def _store_only(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST .../items asking for no reply; anything else goes to the FastAPI route with
        the body it sent."""
        body = await _read_body(receive)
        parsed = _store_only_body(scope, body)
        if parsed is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = STORE_ONLY
        request = Request(scope, receive)
        try:
            principal = await _principal(request)
            answer = await items.store_only(ItemStore(scope["app"].state.ctx.direct),
                                            principal.user_id, scope["path"].split("/")[3],
                                            parsed)
        except Exception as exc:
            await (await render_exception(request, exc))(scope, receive, send)
            return
        await _send_json(send, 201, answer)


def _is_items_path(path: str) -> bool:
    parts = path.split("/")
    return (len(parts) == 5 and parts[1:3] == ["v1", "conversations"] and parts[4] == "items"
            and _ID.fullmatch(parts[3]) is not None)


def _store_only_body(scope: Scope, body: bytes) -> items.ItemCreate | None:
    """The body, when it is JSON the route accepts and asks for no reply; else None."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    if content_type.split(b";")[0].strip().lower() != b"application/json":
        return None
    try:  # orjson accepts a subset of what the route's json.loads does, with equal results
        parsed = items.ItemCreate.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None
    return None if parsed.stream or parsed.wants_reply() else parsed


async def _principal(request: Request) -> Any:
    headers = request.headers
    return await get_principal(request, headers.get("authorization"), headers.get("x-api-key"))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands out the already read body once, then listens as before."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
