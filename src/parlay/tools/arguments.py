"""A tool call's arguments as the registry checks them: one JSON object, bounded, no NULs."""

from __future__ import annotations

from typing import Any

import orjson

from parlay.tools.base import ToolFailure

MAX_ARGUMENT_BYTES = 256 * 1024


def parse_arguments(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    """The arguments as a dict; ToolFailure("invalid_arguments") when they can't be one."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            raise ToolFailure("invalid_arguments", "the arguments are not valid JSON") from None
    if not isinstance(arguments, dict):
        raise ToolFailure("invalid_arguments", "the arguments must be a JSON object")
    encoded = orjson.dumps(arguments)
    if len(encoded) > MAX_ARGUMENT_BYTES or "\x00" in searchable_text(arguments):
        raise ToolFailure("invalid_arguments", f"the arguments must be at most "
                          f"{MAX_ARGUMENT_BYTES} bytes of JSON, without NUL characters")
    return arguments


def searchable_text(args: dict[str, Any]) -> str:
    """Every string in the arguments (keys too), for the keyword filter."""
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                parts.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif value is not None:
            parts.append(str(value))

    walk(args)
    return "\n".join(parts)
