"""POST /v1/chat/completions and /v1/embeddings: OpenAI-exact, bodies passed through.

The body is parsed with orjson and checked lightly by the service rather than validated as a
pydantic model: every OpenAI parameter (and any extension an upstream understands) is
forwarded verbatim. The request schema below documents it for OpenAPI.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from parlay.api.deps import CurrentUser
from parlay.api.errors import request_id_of
from parlay.api.schemas import ERROR_RESPONSES, ErrorResponse
from parlay.api.sse import EventStreamResponse
from parlay.errors import BadRequest
from parlay.services.replies import ReplyPipeline, StoredTurn

router = APIRouter(tags=["chat"])


class ChatCompletion(BaseModel):
    """OpenAI's chat.completion object, as the upstream produced it."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class EmbeddingList(BaseModel):
    model_config = ConfigDict(extra="allow")
    object: str = "list"
    data: list[dict[str, Any]]
    model: str
    usage: dict[str, Any] | None = None


_MESSAGE_SCHEMA = {
    "type": "object", "required": ["role"], "additionalProperties": True,
    "properties": {"role": {"type": "string"}, "content": {},
                   "name": {"type": "string"}, "tool_calls": {"type": "array"},
                   "tool_call_id": {"type": "string"}},
}
CHAT_REQUEST_SCHEMA = {
    "type": "object", "required": ["model", "messages"], "additionalProperties": True,
    "description": "OpenAI chat completion request; every parameter is passed to the "
                   "upstream verbatim. `conversation` (a conversation id) and `store` are "
                   "Parlay's own and are not forwarded.",
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE_SCHEMA},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object",
                           "properties": {"include_usage": {"type": "boolean"}}},
        "temperature": {"type": "number"}, "top_p": {"type": "number"},
        "max_tokens": {"type": "integer"}, "max_completion_tokens": {"type": "integer"},
        "n": {"type": "integer"}, "seed": {"type": "integer"},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": {"type": "object"}}, "tool_choice": {},
        "response_format": {"type": "object"}, "logprobs": {"type": "boolean"},
        "user": {"type": "string"}, "conversation": {"type": "string"},
        "store": {"type": "boolean"},
    },
}
EMBEDDINGS_REQUEST_SCHEMA = {
    "type": "object", "required": ["model", "input"], "additionalProperties": True,
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "input": {"anyOf": [{"type": "string"},
                            {"type": "array", "minItems": 1}]},
        "encoding_format": {"type": "string"}, "dimensions": {"type": "integer"},
        "user": {"type": "string"},
    },
}
_UPSTREAM_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorResponse, "description": "the upstream failed or is unreachable"},
    504: {"model": ErrorResponse, "description": "the upstream timed out"},
}


def _request_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


@router.post(
    "/v1/chat/completions", response_model=ChatCompletion,
    responses={**ERROR_RESPONSES, **_UPSTREAM_ERRORS,
               200: {"description": "chat.completion, or with stream:true a text/event-stream "
                                    "of chat.completion.chunk events ending with [DONE]",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    openapi_extra=_request_body(CHAT_REQUEST_SCHEMA),
)
async def chat_completions(request: Request, user: CurrentUser) -> Response:
    return await chat_response(request, user.user_id)


@router.post(
    "/v1/embeddings", response_model=EmbeddingList,
    responses={**ERROR_RESPONSES, **_UPSTREAM_ERRORS},
    openapi_extra=_request_body(EMBEDDINGS_REQUEST_SCHEMA),
)
async def embeddings(request: Request, user: CurrentUser) -> Response:
    return await embeddings_response(request, user.user_id)


# The handlers proper: called by the routes above and by api.fastpath (which serves these
# paths without FastAPI's router), so both answer alike. Branches belong in the services.

async def chat_response(request: Request, user_id: str) -> Response:
    body = await json_body(request)
    replies = ReplyPipeline(request.app.state.ctx.replies, request_id=request_id_of(request))
    answer = await replies.chat_completion(user_id, body)
    headers = _stored_headers(answer.stored)
    if answer.events is not None:
        return EventStreamResponse(answer.events, headers=headers)
    assert answer.completion is not None
    return json_response(answer.completion, headers)


async def embeddings_response(request: Request, user_id: str) -> Response:
    body = await json_body(request)
    return json_response(await request.app.state.ctx.chat.embeddings(user_id, body))


def _stored_headers(stored: StoredTurn | None) -> dict[str, str] | None:
    """The conversation items a chat completion stored, named in headers (the body keeps
    OpenAI's exact shape)."""
    if stored is None:
        return None
    headers = {"x-parlay-conversation-id": stored.conversation_id}
    if stored.reply_id is not None:
        headers["x-parlay-reply-id"] = stored.reply_id
    if stored.item_ids:
        headers["x-parlay-item-id"] = stored.item_ids[-1]
    return headers


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_body")
    return body


def json_response(payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)
