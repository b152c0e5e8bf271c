"""A response's turn: the input items as stored (OpenAI's item shape, with ids), the model
that answers, and the messages it sees:

  [instructions as system] + history + the new input items
history: with previous_response_id, every earlier response's input and output items (the
chain, instructions excluded, as in OpenAI's API); with conversation, the user's profile
preamble and the conversation's items (as chat completions' `conversation` does).
The functions offered: the client's, then those of the hosted tools Parlay runs (tools.py);
`mcp_approval_response` items answer the chain's approval requests: those calls run first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.base import new_id
from parlay.db.repositories import responses as repo
from parlay.errors import BadRequest, NotFound
from parlay.providers.registry import ProviderRegistry
from parlay.services.chat_messages import chat_messages
from parlay.services.items import ItemService
from parlay.services.replies import (
    CONTEXT_STEPS,
    HISTORY_LIMIT,
    ContextSteps,
    ReplyContext,
    Resume,
    choose_model,
)
from parlay.services.responses.events import ResponseHead
from parlay.services.responses.request import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    InputImage,
    McpApprovalResponseItem,
    MessageItem,
    Refusal,
    ResponseRequest,
)
from parlay.services.responses.tools import HostedTools, decisions_of, hosted_tools
from parlay.services.tool_registry import ToolRegistry

# Parameters passed to the model as chat-completions parameters of the same name.
_VERBATIM = ("temperature", "top_p", "user", "safety_identifier", "prompt_cache_key",
             "service_tier")


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    user_id: str
    head: ResponseHead
    body: dict[str, Any]  # the first model step's chat-completions request
    input_items: list[dict[str, Any]]
    store: bool
    hosted: HostedTools
    resume: Resume | None = None  # approved (or rejected) calls of the previous response
    # With a conversation: what the context steps noted for the stored reply (e.g. the
    # memories recalled), their notes for the after-reply hooks, and the text answered.
    reply_metadata: dict[str, Any] | None = None
    context_notes: dict[str, Any] | None = None
    user_text: str = ""


def response_not_found(response_id: str, param: str = "response_id") -> NotFound:
    return NotFound(f"no response {response_id!r}", code="response_not_found", param=param)


async def prepare_turn(session: AsyncSession, providers: ProviderRegistry,
                       registry: ToolRegistry, user_id: str,
                       request: ResponseRequest,
                       context_steps: ContextSteps = CONTEXT_STEPS) -> PreparedTurn:
    """Read what the turn needs (no connection is held afterwards: the caller commits).
    `context_steps`: the app's reply context (profile, history, memory recall...)."""
    input_items = [stored_input_item(item) for item in request.input_items()]
    history: list[dict[str, Any]] = []
    known_model: str | None = None
    earlier: list[dict[str, Any]] = []
    if request.previous_response_id is not None:
        previous = await repo.get_owned(session, user_id, request.previous_response_id)
        if previous is None:
            raise response_not_found(request.previous_response_id, "previous_response_id")
        earlier = _newest(await repo.chain(session, user_id, previous.id,
                                           max_depth=HISTORY_LIMIT))
        history, known_model = chat_messages(earlier), previous.model
    answered = _approval_requests(input_items, earlier)
    conversation_id = request.conversation_id
    conversation = None
    if conversation_id is not None:
        conversation = await ItemService(session).conversation(user_id, conversation_id)
        known_model = conversation.model
    model = await choose_model(session, providers, user_id, known_model, request.model)
    reply_metadata = notes = None
    user_text = ""
    new_messages = chat_messages(input_items)
    if conversation is not None:  # the reply pipeline's context: preamble, history, memory
        context = await context_steps.build(ReplyContext(
            user_id=user_id, model=model, session=session, conversation_id=conversation.id,
            below_position=conversation.next_position, request=new_messages))
        history, reply_metadata = context.system + context.history, context.metadata or None
        notes, user_text = context.notes, context.latest_user_text()
    messages = [{"role": "system", "content": request.instructions}] if request.instructions \
        else []
    messages += history + new_messages
    head = ResponseHead(id=new_id("resp"), created_at=time.time(), model=model,
                        instructions=request.instructions,
                        previous_response_id=request.previous_response_id,
                        conversation_id=conversation_id, params=echoed_params(request))
    hosted = HostedTools()
    if request.hosted:
        listed = {item.get("server_label") for item in earlier
                  if item.get("type") == "mcp_list_tools"}
        hosted = await hosted_tools(session, registry, user_id, request.hosted,
                                    taken={tool.name for tool in request.functions},
                                    listed={label for label in listed if label})
    hosted.decisions = decisions_of(
        [item for item in input_items if item["type"] == "mcp_approval_response"], answered)
    body: dict[str, Any] = {"model": model, "messages": messages, **step_options(request)}
    tools = [*chat_tools(request), *hosted.definitions()]
    if tools:
        body["tools"] = tools
    resume = Resume([d.call for d in hosted.decisions.values()]) if hosted.decisions else None
    return PreparedTurn(user_id, head, body, input_items, request.store, hosted, resume,
                        reply_metadata, notes, user_text)


def _newest(chain: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]],
            ) -> list[dict[str, Any]]:
    """The chain's last HISTORY_LIMIT items (never starting with an orphaned tool output)."""
    items = [item for inputs, outputs in chain for item in (*inputs, *outputs)]
    items = items[-HISTORY_LIMIT:]
    while items and items[0].get("type") == "function_call_output":
        items.pop(0)
    return items


def _approval_requests(items: list[dict[str, Any]], earlier: list[dict[str, Any]],
                       ) -> dict[str, dict[str, Any]]:
    """The chain's mcp_approval_requests the input answers: each must be one, not answered
    before (in the chain or twice here)."""
    requested = {item["id"]: item for item in earlier
                 if item.get("type") == "mcp_approval_request"}
    answered = {item.get("approval_request_id") for item in earlier
                if item.get("type") == "mcp_approval_response"}
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        if item["type"] != "mcp_approval_response":
            continue
        request_id = item["approval_request_id"]
        param = f"input[{index}].approval_request_id"
        if request_id not in requested:
            raise BadRequest(f"no mcp_approval_request {request_id!r} in the previous "
                             "response's output", code="invalid_value", param=param)
        if request_id in answered or request_id in found:
            raise BadRequest(f"mcp_approval_request {request_id!r} is answered already",
                             code="invalid_value", param=param)
        found[request_id] = requested[request_id]
    return found


def stored_input_item(item: MessageItem | FunctionCallItem | FunctionCallOutputItem
                      | McpApprovalResponseItem) -> dict[str, Any]:
    """An input item in OpenAI's item shape, with its own id (input_items lists these)."""
    if isinstance(item, MessageItem):
        assistant = item.role == "assistant"
        return {"id": new_id("msg"), "type": "message", "role": item.role,
                "status": "completed", "content": _parts(item.content, assistant)}
    if isinstance(item, FunctionCallItem):
        return {"id": new_id("fc"), "type": "function_call", "status": "completed",
                "call_id": item.call_id, "name": item.name, "arguments": item.arguments}
    if isinstance(item, FunctionCallOutputItem):
        output = item.output if isinstance(item.output, str) else _parts(item.output, False)
        return {"id": new_id("fco"), "type": "function_call_output", "status": "completed",
                "call_id": item.call_id, "output": output}
    return {"id": new_id("mcpr"), "type": "mcp_approval_response",
            "approval_request_id": item.approval_request_id, "approve": item.approve,
            "reason": item.reason}


def _parts(content: Any, assistant: bool) -> list[dict[str, Any]]:
    text_type = "output_text" if assistant else "input_text"
    if isinstance(content, str):
        return [_text_part(text_type, content)]
    parts = []
    for part in content:
        if isinstance(part, InputImage):
            parts.append({"type": "input_image", "image_url": part.image_url,
                          "detail": part.detail or "auto"})
        elif isinstance(part, Refusal):
            parts.append({"type": "refusal", "refusal": part.refusal})
        else:
            parts.append(_text_part(text_type, part.text))
    return parts


def _text_part(kind: str, text: str) -> dict[str, Any]:
    return {"type": kind, "text": text, "annotations": []} if kind == "output_text" else \
        {"type": kind, "text": text}


def chat_tools(request: ResponseRequest) -> list[dict[str, Any]]:
    tools = []
    for tool in request.functions:
        function: dict[str, Any] = {"name": tool.name}
        for key in ("description", "parameters", "strict"):
            if getattr(tool, key) is not None:
                function[key] = getattr(tool, key)
        tools.append({"type": "function", "function": function})
    return tools


def step_options(request: ResponseRequest) -> dict[str, Any]:
    """The request's parameters as chat-completions parameters."""
    options: dict[str, Any] = {key: getattr(request, key) for key in _VERBATIM
                               if getattr(request, key) is not None}
    if request.max_output_tokens is not None:
        options["max_tokens"] = request.max_output_tokens
    if request.tools:  # without tools these mean nothing (and upstreams refuse them)
        options.update(_tool_options(request))
    if request.text is not None:
        if request.text.verbosity is not None:
            options["verbosity"] = request.text.verbosity
        if request.text.format is not None and request.text.format.type != "text":
            options["response_format"] = _response_format(request)
    if request.reasoning is not None and request.reasoning.effort is not None:
        options["reasoning_effort"] = request.reasoning.effort
    return options


def _tool_options(request: ResponseRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.parallel_tool_calls is not None:
        options["parallel_tool_calls"] = request.parallel_tool_calls
    if isinstance(request.tool_choice, str):
        options["tool_choice"] = request.tool_choice
    elif request.tool_choice is not None:
        options["tool_choice"] = {"type": "function",
                                  "function": {"name": request.tool_choice.name}}
    return options


def _response_format(request: ResponseRequest) -> dict[str, Any]:
    assert request.text is not None and request.text.format is not None
    text_format = request.text.format
    if text_format.type == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": text_format.name, "schema": text_format.schema_}
    if text_format.description is not None:
        schema["description"] = text_format.description
    if text_format.strict is not None:
        schema["strict"] = text_format.strict
    return {"type": "json_schema", "json_schema": schema}


def echoed_params(request: ResponseRequest) -> dict[str, Any]:
    """The request's settings in the Response object's shape (stored with it)."""
    params: dict[str, Any] = {
        "tools": [{"type": "function", "name": tool.name, "description": tool.description,
                   "parameters": tool.parameters, "strict": tool.strict}
                  if isinstance(tool, FunctionTool) else tool.model_dump(exclude_none=True)
                  for tool in request.tools],
        "max_tool_calls": request.max_tool_calls,
        "tool_choice": request.tool_choice if isinstance(request.tool_choice, str) or
        request.tool_choice is None else request.tool_choice.model_dump(),
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "temperature": request.temperature, "top_p": request.top_p,
        "max_output_tokens": request.max_output_tokens, "metadata": request.metadata or {},
        "store": request.store, "user": request.user,
        "safety_identifier": request.safety_identifier,
        "prompt_cache_key": request.prompt_cache_key, "service_tier": request.service_tier,
    }
    if params["tool_choice"] is None:
        params["tool_choice"] = "auto"
    if request.text is not None:
        params["text"] = request.text.model_dump(by_alias=True, exclude_none=True)
    if request.reasoning is not None:
        params["reasoning"] = {"effort": request.reasoning.effort, "summary": None}
    return params
