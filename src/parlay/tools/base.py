"""What every tool backend returns or raises, whatever it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """A finished run: `text` is what a model reads, `data` the same as structured JSON."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    # The tool ran but reports failure (a program that exited non-zero, an MCP server's
    # is_error): the model still reads `text`.
    is_error: bool = False


class ToolFailure(Exception):
    """The tool could not do its job (bad URL, refused address, backend down...).

    `code` is one of the documented error codes; `message` is safe to show the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters, and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit], True
