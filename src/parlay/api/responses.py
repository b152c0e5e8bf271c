"""/v1/responses: OpenAI's Responses API (create, stream, retrieve, delete, input items).

The create body is parsed with orjson and validated by the service (which knows what it can
honour); the schema below documents it for OpenAPI. Streams are `event:`/`data:` SSE events
as OpenAI sends them (no `[DONE]`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from parlay.api.chat import json_body, json_response
from parlay.api.deps import CurrentUser
from parlay.api.errors import request_id_of
from parlay.api.ids import ID_PATTERN, cursor
from parlay.api.schemas import ERROR_RESPONSES, ErrorResponse
from parlay.api.sse import EventStreamResponse
from parlay.context import AppContext
from parlay.errors import BadRequest
from parlay.services.responses import ResponseService

router = APIRouter(prefix="/v1/responses", tags=["responses"], responses=ERROR_RESPONSES)

ResponseId = Annotated[str, Path(pattern=ID_PATTERN,
                                 examples=["resp_3f9a0c1d2e4b5a6978812233"])]

_ITEM = {"type": "object", "additionalProperties": True,
         "description": "a message {role, content} (content a string or input_text / "
                        "input_image / output_text parts), a function_call, a "
                        "function_call_output or an mcp_approval_response"}
RESPONSE_REQUEST_SCHEMA = {
    "type": "object", "required": ["input"], "additionalProperties": False,
    "description": "OpenAI's Responses API request. Parameters Parlay cannot honour are "
                   "refused with 400 (see the README).",
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "input": {"anyOf": [{"type": "string", "minLength": 1},
                            {"type": "array", "minItems": 1, "items": _ITEM}]},
        "instructions": {"type": "string"},
        "tools": {"type": "array", "items": {"anyOf": [
            {"type": "object", "required": ["type", "name"], "description": "a function tool "
             "(the client runs it)",
             "properties": {"type": {"const": "function"}, "name": {"type": "string"},
                            "description": {"type": "string"},
                            "parameters": {"type": "object"}, "strict": {"type": "boolean"}}},
            {"type": "object", "required": ["type"], "description": "Parlay's web_search",
             "properties": {"type": {"enum": ["web_search", "web_search_preview"]}}},
            {"type": "object", "required": ["type", "container"],
             "description": "Parlay's code_executor sandbox",
             "properties": {"type": {"const": "code_interpreter"},
                            "container": {"type": "object",
                                          "properties": {"type": {"const": "auto"}}}}},
            {"type": "object", "required": ["type", "server_label", "server_url"],
             "description": "Parlay's own MCP tools (server_url /v1/mcp) or an "
                            "admin-registered MCP server's",
             "properties": {"type": {"const": "mcp"}, "server_label": {"type": "string"},
                            "server_url": {"type": "string"}, "allowed_tools": {},
                            "require_approval": {}}}]}},
        "max_tool_calls": {"type": "integer", "minimum": 1},
        "tool_choice": {"anyOf": [{"enum": ["none", "auto", "required"]},
                                  {"type": "object"}]},
        "parallel_tool_calls": {"type": "boolean"},
        "previous_response_id": {"type": "string", "pattern": ID_PATTERN},
        "conversation": {"anyOf": [{"type": "string", "pattern": ID_PATTERN},
                                   {"type": "object", "required": ["id"]}]},
        "store": {"type": "boolean", "default": True},
        "stream": {"type": "boolean", "default": False},
        "stream_options": {"type": "object"},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "metadata": {"type": "object", "maxProperties": 16,
                     "additionalProperties": {"type": "string", "maxLength": 512}},
        "text": {"type": "object"}, "reasoning": {"type": "object"},
        "truncation": {"const": "disabled"}, "user": {"type": "string"},
        "safety_identifier": {"type": "string"}, "prompt_cache_key": {"type": "string"},
        "service_tier": {"type": "string"},
    },
}
_UPSTREAM = {502: {"model": ErrorResponse, "description": "never: an upstream failure is a "
                                                          "`failed` response"}}


def response_service(ctx: AppContext, request_id: str | None) -> ResponseService:
    return ResponseService(ctx.sessionmaker, ctx.direct, providers=ctx.providers, chat=ctx.chat,
                           tools=ctx.tools, context_steps=ctx.replies.context_steps,
                           after_reply=ctx.replies.after_reply, max_steps=ctx.replies.max_steps,
                           request_id=request_id)


_BY_ID = {"response_id": "$response.body#/id"}


@router.post(
    "", operation_id="create_response",
    responses={200: {"description": "the Response object, or with stream:true a "
                                    "text/event-stream of response events",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "links": {name: {"operationId": name, "parameters": _BY_ID} for name in
                               ("retrieve_response", "delete_response", "list_input_items")}},
               **_UPSTREAM},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": RESPONSE_REQUEST_SCHEMA}}}},
)
async def create_response(request: Request, user: CurrentUser) -> Response:
    return await respond(request, user.user_id)


async def respond(request: Request, user_id: str) -> Response:
    """POST /v1/responses for `user_id` (also served by api/fastpath.py)."""
    body = await json_body(request)
    service = response_service(request.app.state.ctx, request_id_of(request))
    result = await service.create(user_id, body)
    if isinstance(result, dict):
        return json_response(result)
    return EventStreamResponse(result)


@router.get("/{response_id}", operation_id="retrieve_response")
async def get_response(request: Request, response_id: ResponseId, user: CurrentUser,
                       stream: Annotated[bool, Query(include_in_schema=False)] = False,
                       ) -> Response:
    if stream:
        raise BadRequest("replaying a stored response as a stream is not supported",
                         code="unsupported_parameter", param="stream")
    service = response_service(request.app.state.ctx, request_id_of(request))
    return json_response(await service.get(user.user_id, response_id))


@router.delete("/{response_id}", operation_id="delete_response")
async def delete_response(request: Request, response_id: ResponseId,
                          user: CurrentUser) -> Response:
    service = response_service(request.app.state.ctx, request_id_of(request))
    return json_response(await service.delete(user.user_id, response_id))


@router.get("/{response_id}/input_items", operation_id="list_input_items")
async def list_input_items(
    request: Request, response_id: ResponseId, user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: Annotated[str | None, cursor("an item id of this list: the page after it")] = None,
    include: Annotated[list[str] | None, Query(include_in_schema=False)] = None,
) -> Response:
    if include:
        raise BadRequest("'include' is not supported: items carry no optional extras",
                         code="unsupported_parameter", param="include")
    service = response_service(request.app.state.ctx, request_id_of(request))
    return json_response(await service.input_items(user.user_id, response_id, limit=limit,
                                                   after=after, order=order))
