"""OpenAI items (the Responses API's and the conversation store's shape) as chat-completions
messages: what an upstream speaking `/chat/completions` is sent.

  message (user/system/developer/assistant) -> {"role", "content"}; developer becomes system,
      which every upstream understands; text parts are joined, images become image_url parts
  function_call(s)                          -> one assistant message with `tool_calls`
                                               (joined to the assistant text just before it)
  function_call_output                      -> {"role": "tool", "tool_call_id", "content"}
  web_search_call, code_interpreter_call,
  mcp_call (Parlay's tools, finished)       -> the call and its output, as the two above
Items with no chat form (MCP approvals, ...) are not sent, nor a call without its output or
an output without its call (upstreams refuse both), e.g. a round cut short by a crash; calls
at the very end and outputs at the very start are kept (the caller's other messages may
complete them: a response's input answering the previous one's calls).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def chat_messages(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item))
        elif kind == "function_call":
            _add_tool_call(messages, item)
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id")),
                             "content": _text(item.get("output"))})
        elif (hosted := hosted_call(item)) is not None:
            name, arguments, output = hosted
            _add_tool_call(messages, {"call_id": item.get("id"), "name": name,
                                      "arguments": arguments})
            messages.append({"role": "tool", "tool_call_id": str(item.get("id")),
                             "content": output})
    return _paired(messages)


def hosted_call(item: dict[str, Any]) -> tuple[str, str, str] | None:
    """(tool, arguments, output) of a finished call to one of Parlay's tools, as the
    Responses API shows it (`web_search_call`, `code_interpreter_call`, `mcp_call`); None
    for any other item or a call that did not finish."""
    kind = item.get("type")
    if item.get("status") not in ("completed", "failed"):
        return None
    if kind == "web_search_call":
        action = item.get("action") if isinstance(item.get("action"), dict) else {}
        output = str(item.get("output") or "")
        if action.get("type") == "open_page":
            return "web_scraper", _json({"url": action.get("url")}), output
        return "web_search", _json({"query": action.get("query")}), output
    if kind == "code_interpreter_call":
        logs = [str(out.get("logs") or "") for out in item.get("outputs") or ()
                if isinstance(out, dict)]
        return "code_executor", _json({"code": item.get("code") or ""}), "\n".join(logs)
    if kind == "mcp_call":
        output = item.get("output")
        if output is None:
            error = item.get("error")
            output = _text(error.get("content")) if isinstance(error, dict) else str(error)
        return str(item.get("name")), str(item.get("arguments") or "{}"), str(output)
    return None


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


def _paired(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls only with the tool messages answering them, and tool messages only after
    their call. The ends stay open: calls at the very end and tool messages at the very
    start may be answered by what the caller puts around these messages."""
    kept: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.get("tool_calls"):
            following = _tool_run(messages, index + 1)
            if index + 1 + len(following) < len(messages):  # something else comes next
                message = _answered_only(message, {m["tool_call_id"] for m in following})
                if message is None:
                    continue
        elif message["role"] == "tool" and kept and not _answers(kept, message["tool_call_id"]):
            continue
        kept.append(message)
    return kept


def _tool_run(messages: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    run = []
    for message in messages[start:]:
        if message["role"] != "tool":
            break
        run.append(message)
    return run


def _answered_only(message: dict[str, Any], answered: set[str]) -> dict[str, Any] | None:
    calls = [call for call in message["tool_calls"] if call["id"] in answered]
    if calls:
        return {**message, "tool_calls": calls}
    rest = {key: value for key, value in message.items() if key != "tool_calls"}
    return rest if rest.get("content") else None


def _answers(kept: list[dict[str, Any]], call_id: str) -> bool:
    """A tool message answers a call of the last non-tool message kept (or opens the list)."""
    for message in reversed(kept):
        if message["role"] != "tool":
            return any(call["id"] == call_id for call in message.get("tool_calls") or ())
    return True


def _message(item: dict[str, Any]) -> dict[str, Any]:
    role = item.get("role") or "user"
    role = "system" if role == "developer" else role
    content = item.get("content")
    if isinstance(content, list) and any(_is_image(part) for part in content):
        return {"role": role, "content": [_chat_part(part) for part in content
                                          if _is_image(part) or _part_text(part)]}
    return {"role": role, "content": _text(content)}


def _add_tool_call(messages: list[dict[str, Any]], item: dict[str, Any]) -> None:
    call = {"id": str(item.get("call_id")), "type": "function",
            "function": {"name": str(item.get("name")),
                         "arguments": str(item.get("arguments") or "")}}
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and not isinstance(last["content"], list):
        last.setdefault("tool_calls", []).append(call)
        if not last["content"]:
            last["content"] = None
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(text for part in content if (text := _part_text(part)))
    return ""


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    if part.get("type") in TEXT_PARTS:
        return str(part.get("text") or "")
    if part.get("type") == "refusal":
        return str(part.get("refusal") or "")
    return ""


def _is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "input_image"


def _chat_part(part: dict[str, Any]) -> dict[str, Any]:
    if _is_image(part):
        image = {"url": part.get("image_url")}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    return {"type": "text", "text": _part_text(part)}
