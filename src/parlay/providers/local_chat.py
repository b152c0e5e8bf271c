"""OpenAI chat request checking and response shapes for the local model.

What the local model cannot do (tools, images, logprobs, n > 1, JSON mode...) is refused with a
400 naming the parameter, never silently ignored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from parlay.errors import BadRequest
from parlay.providers.sse import data_event

# Parameters that change what the local model does, and are honoured.
SUPPORTED_PARAMETERS = (
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed",
    "presence_penalty", "frequency_penalty", "stream", "stream_options",
)
# Accepted because they do not change generation (or only in their default, no-op form).
_INERT = frozenset({"model", "messages", "user", "n", "logprobs", "tools", "tool_choice",
                    "parallel_tool_calls", "response_format", "functions", "function_call"})
_KNOWN = frozenset(SUPPORTED_PARAMETERS) | _INERT
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_STOPS = 4


@dataclass(frozen=True)
class Sampling:
    """Defaults are llama-cpp-python's chat defaults, kinder to small models than OpenAI's 1.0."""

    max_tokens: int | None = None
    temperature: float = 0.2
    top_p: float = 0.95
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    sampling: Sampling
    include_usage: bool


def parse_chat_request(body: dict[str, Any], model_id: str) -> ChatRequest:
    for key, value in body.items():
        if key not in _KNOWN and value is not None:
            raise _unsupported(key, model_id)
    _refuse_inert_features(body, model_id)
    stream = body.get("stream") is True
    options = body.get("stream_options")
    if options is not None and not stream:
        raise BadRequest("stream_options is only allowed when stream is true",
                         param="stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    max_tokens = body.get("max_completion_tokens")
    max_param = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, max_param = body.get("max_tokens"), "max_tokens"
    sampling = Sampling(
        max_tokens=_integer(max_tokens, max_param, minimum=1),
        temperature=_number(body.get("temperature"), "temperature", 0.0, 2.0, Sampling.temperature),
        top_p=_number(body.get("top_p"), "top_p", 0.0, 1.0, Sampling.top_p),
        stop=_stops(body.get("stop")),
        seed=_integer(body.get("seed"), "seed"),
        presence_penalty=_number(body.get("presence_penalty"), "presence_penalty", -2.0, 2.0, 0.0),
        frequency_penalty=_number(body.get("frequency_penalty"), "frequency_penalty", -2.0, 2.0,
                                  0.0),
    )
    return ChatRequest(_messages(body.get("messages"), model_id), sampling, include_usage)


def _refuse_inert_features(body: dict[str, Any], model_id: str) -> None:
    if body.get("tools") or body.get("functions"):
        param = "tools" if body.get("tools") else "functions"
        raise _unsupported(param, model_id, "it cannot call tools")
    if body.get("tool_choice") not in (None, "none") or body.get("function_call") not in (
        None, "none"
    ):
        param = "tool_choice" if body.get("tool_choice") not in (None, "none") else "function_call"
        raise _unsupported(param, model_id, "it cannot call tools")
    if body.get("n") not in (None, 1):
        raise _unsupported("n", model_id, "it returns one choice per request (n=1)")
    if body.get("logprobs") not in (None, False):
        raise _unsupported("logprobs", model_id)
    response_format = body.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise _unsupported("response_format", model_id, "it produces plain text only")


def _unsupported(param: str, model_id: str, why: str = "") -> BadRequest:
    reason = f": {why}" if why else ""
    return BadRequest(
        f"the local model {model_id!r} does not support {param!r}{reason}. It honours: "
        f"{', '.join(SUPPORTED_PARAMETERS)}", code="unsupported_parameter", param=param,
    )


def _messages(raw: Any, model_id: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list", param="messages")
    messages = []
    for index, message in enumerate(raw):
        param = f"messages.{index}"
        if not isinstance(message, dict):
            raise BadRequest("each message must be an object", param=param)
        role = _ROLES.get(message.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise BadRequest(
                f"role {message.get('role')!r} is not supported by the local model {model_id!r} "
                "(it has no tools); use system, developer, user or assistant",
                code="unsupported_parameter", param=f"{param}.role",
            )
        if message.get("tool_calls") or message.get("function_call"):
            raise _unsupported(f"{param}.tool_calls", model_id, "it cannot call tools")
        messages.append({"role": role, "content": _text_of(message.get("content"), param)})
    return messages


def _text_of(content: Any, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise BadRequest("content must be a string or a list of content parts",
                         param=f"{param}.content")
    texts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(
            part.get("text"), str
        ):
            texts.append(part["text"])
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise BadRequest(f"the local model reads text only; content part {kind!r} is not "
                             "supported", code="unsupported_content", param=f"{param}.content")
    return "\n".join(texts)


def _number(value: Any, param: str, low: float, high: float, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"{param} must be a number from {low:g} to {high:g}", param=param)
    return float(value)


def _integer(value: Any, param: str, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (
        minimum is not None and value < minimum
    ):
        floor = f" >= {minimum}" if minimum is not None else ""
        raise BadRequest(f"{param} must be an integer{floor}", param=param)
    return value


def _stops(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise BadRequest("stop must be a string or a list of strings", param="stop")
    if len(stops) > MAX_STOPS:
        raise BadRequest(f"stop takes at most {MAX_STOPS} sequences", param="stop")
    return tuple(stops)


# -- response shapes (OpenAI's exactly) -----------------------------------------------------

def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def usage_of(finished: Any) -> dict[str, int]:
    return {
        "prompt_tokens": finished.prompt_tokens,
        "completion_tokens": finished.completion_tokens,
        "total_tokens": finished.prompt_tokens + finished.completion_tokens,
    }


def completion_body(
    id_: str, created: int, model: str, text: str, finish_reason: str, usage: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": finish_reason,
        }],
        "usage": usage,
    }


def sse_chunk(
    id_: str, created: int, model: str, choices: list[dict[str, Any]], include_usage: bool,
    usage: dict[str, int] | None = None,
) -> bytes:
    chunk: dict[str, Any] = {
        "id": id_, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": None, "choices": choices,
    }
    if include_usage:  # as OpenAI: `usage: null` on every chunk, the totals on the last one
        chunk["usage"] = usage
    return data_event(chunk)
