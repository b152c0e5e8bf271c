"""The `POST /v1/responses` body: OpenAI's request shape, validated into typed objects.

Only what Parlay honours is accepted; a known OpenAI parameter or tool it cannot honour yet
is refused with a 400 that says so, never silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)

from parlay.errors import BadRequest, ValidationFailed
from parlay.services.content import check_content
from parlay.services.conversations import ID_PATTERN, check_storable
from parlay.services.responses.tool_specs import (
    FunctionName,
    FunctionTool,
    HostedTool,
    Tool,
    refuse_unsupported_tools,
)

# Parameters whose meaning Parlay does not serve (yet): a clear 400, not silence.
UNSUPPORTED_PARAMETERS = {
    "background": "background responses are not supported; omit 'background' or send false",
    "prompt": "prompt templates are not supported",
    "top_logprobs": "logprobs are not supported on /v1/responses",
    "context_management": "context management is not supported",
    "prompt_cache_retention": "prompt cache retention is not supported",
}
SUPPORTED_ITEM_TYPES = frozenset({"message", "function_call", "function_call_output",
                                  "mcp_approval_response"})

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
CallId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Model(BaseModel):
    # Unknown fields inside items are tolerated (the SDK adds new ones often); unknown
    # top-level parameters are refused by ResponseRequest itself.
    model_config = ConfigDict(extra="ignore", frozen=True)


class InputText(_Model):
    type: Literal["input_text"]
    text: str


class InputImage(_Model):
    type: Literal["input_image"]
    image_url: str
    detail: Literal["low", "high", "auto", "original"] | None = None


class OutputText(_Model):
    type: Literal["output_text"]
    text: str


class Refusal(_Model):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[InputText | InputImage | OutputText | Refusal,
                        Field(discriminator="type")]


class MessageItem(_Model):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]


class FunctionCallItem(_Model):
    type: Literal["function_call"]
    call_id: CallId
    name: FunctionName
    arguments: str


class FunctionCallOutputItem(_Model):
    type: Literal["function_call_output"]
    call_id: CallId
    output: str | list[ContentPart]


class McpApprovalResponseItem(_Model):
    type: Literal["mcp_approval_response"]
    approval_request_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    approve: bool
    reason: str | None = None


def _item_type(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("type", "message")
    return getattr(value, "type", None)


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[McpApprovalResponseItem, Tag("mcp_approval_response")],
    Discriminator(_item_type),
]


class FunctionChoice(_Model):
    type: Literal["function"]
    name: FunctionName


class TextFormat(_Model):
    type: Literal["text", "json_object", "json_schema"]
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None

    @model_validator(mode="after")
    def _schema_named(self) -> TextFormat:
        if self.type == "json_schema" and (self.name is None or self.schema_ is None):
            raise ValueError("a json_schema format needs 'name' and 'schema'")
        return self


class TextConfig(_Model):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class Reasoning(_Model):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: None = None
    generate_summary: None = None


class ConversationRef(_Model):
    id: Id


class StreamOptions(_Model):
    include_obfuscation: bool | None = None  # Parlay never pads deltas; false is its only mode


MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]


class ResponseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    input: Annotated[str, StringConstraints(min_length=1)] | Annotated[
        list[InputItem], Field(min_length=1)]
    instructions: str | None = None
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    previous_response_id: Id | None = None
    conversation: Id | ConversationRef | None = None
    store: bool = True
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    max_tool_calls: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=16)] | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    truncation: Literal["disabled"] | None = None
    include: Annotated[list[str], Field(max_length=0)] | None = None
    background: Literal[False] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None

    @property
    def functions(self) -> list[FunctionTool]:
        return [tool for tool in self.tools if isinstance(tool, FunctionTool)]

    @property
    def hosted(self) -> list[HostedTool]:
        return [tool for tool in self.tools if not isinstance(tool, FunctionTool)]

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation

    def input_items(self) -> list[MessageItem | FunctionCallItem | FunctionCallOutputItem
                                  | McpApprovalResponseItem]:
        if isinstance(self.input, str):
            return [MessageItem(role="user", content=self.input)]
        return list(self.input)


def parse_request(body: dict[str, Any]) -> ResponseRequest:
    """The body as a ResponseRequest, or a 400 naming the first offending parameter."""
    _refuse_unsupported(body)
    try:
        request = ResponseRequest.model_validate(body)
    except ValidationError as exc:
        raise _bad_request(exc, body) from None
    if request.conversation_id is not None and request.previous_response_id is not None:
        raise BadRequest("'previous_response_id' cannot be used together with 'conversation'",
                         code="invalid_value", param="previous_response_id")
    names = [tool.name for tool in request.functions]
    if len(set(names)) != len(names):
        raise BadRequest("function tool names must be unique", code="invalid_value",
                         param="tools")
    try:
        for name in ("input", "instructions", "metadata"):
            check_storable(body.get(name), name)
        _check_message_contents(body.get("input"))
    except ValidationFailed as exc:  # text the database could not keep
        raise BadRequest(exc.message, code="invalid_value", param=exc.param) from None
    return request


def _check_message_contents(raw: Any) -> None:
    """Input messages are stored: the content caps of every stored message apply."""
    if isinstance(raw, str):
        check_content(raw, "input")
        return
    for index, item in enumerate(raw if isinstance(raw, list) else ()):
        if isinstance(item, dict) and item.get("type", "message") == "message":
            check_content(item.get("content"), f"input[{index}].content")


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for name, reason in UNSUPPORTED_PARAMETERS.items():
        if body.get(name) not in (None, False):
            raise BadRequest(reason, code="unsupported_parameter", param=name)
    if body.get("truncation") == "auto":
        raise BadRequest("truncation 'auto' is not supported: Parlay never drops input "
                         "silently", code="unsupported_parameter", param="truncation")
    if body.get("include"):
        raise BadRequest("'include' is not supported: responses carry no optional extras",
                         code="unsupported_parameter", param="include")
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and (reasoning.get("summary") or
                                        reasoning.get("generate_summary")):
        raise BadRequest("reasoning summaries are not supported", code="unsupported_parameter",
                         param="reasoning.summary")
    refuse_unsupported_tools(body.get("tools"))
    _refuse_unsupported_items(body.get("input"))


def _refuse_unsupported_items(items: Any) -> None:
    for index, item in enumerate(items if isinstance(items, list) else ()):
        kind = _item_type(item)
        if isinstance(item, dict) and isinstance(kind, str) and kind not in SUPPORTED_ITEM_TYPES:
            raise BadRequest(f"input item type {kind!r} is not supported; use messages, "
                             "function_call, function_call_output or mcp_approval_response",
                             code="unsupported_item", param=f"input[{index}].type")
        content = item.get("content") if isinstance(item, dict) else None
        for part_index, part in enumerate(content if isinstance(content, list) else ()):
            if not isinstance(part, dict):
                continue
            if part.get("type") == "input_file" or (part.get("type") == "input_image"
                                                    and not part.get("image_url")):
                raise BadRequest("files (input_file, input_image by file_id) are not "
                                 "supported; send images as image_url",
                                 code="unsupported_content",
                                 param=f"input[{index}].content[{part_index}]")


_TYPE_ERRORS = frozenset({
    "string_type", "int_type", "int_parsing", "float_type", "float_parsing", "bool_type",
    "bool_parsing", "list_type", "dict_type", "model_type", "model_attributes_type",
})


def _bad_request(exc: ValidationError, body: dict[str, Any]) -> BadRequest:
    """The most specific error (deepest real path into the body) as a 400."""
    errors = [(_path_in(body, error["loc"], error["type"]), error) for error in exc.errors()]
    # Deepest first; on a tie, a value error beats "wrong type for another union branch".
    path, error = max(errors, key=lambda pair: (len(pair[0]),
                                                pair[1]["type"] not in _TYPE_ERRORS))
    param = _param_of(path)
    kind = error["type"]
    if kind == "extra_forbidden":
        return BadRequest(f"unknown parameter: {param!r}", code="unknown_parameter",
                          param=param)
    if kind == "missing":
        return BadRequest(f"missing required parameter: {param!r}", code="missing_field",
                          param=param)
    code = "invalid_type" if kind in _TYPE_ERRORS else "invalid_value"
    return BadRequest(f"invalid {param!r}: {error['msg']}", code=code, param=param)


def _path_in(body: Any, loc: tuple[int | str, ...], kind: str) -> list[int | str]:
    """The parts of a pydantic error location that name places in the body (union branch
    labels such as 'constrained-str' or 'function_call' are not places)."""
    path: list[int | str] = []
    node = body
    for part in loc:
        if _has(node, part):
            node = node[part]  # type: ignore[index]
        elif (kind in ("missing", "extra_forbidden") and isinstance(node, dict)
              and part == loc[-1]):
            node = None  # a missing or extra field: the error is about this very name
        else:
            continue
        path.append(part)
    return path


def _has(node: Any, part: int | str) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return isinstance(node, dict) and isinstance(part, str) and part in node


def _param_of(path: list[int | str]) -> str:
    """['input', 0, 'content'] -> 'input[0].content'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
