"""The contract every upstream speaks: OpenAI-compatible HTTP servers and the local model.

Bodies are OpenAI request dicts whose `model` is already the upstream's own model name.
Failures raise `parlay.errors.UpstreamError` (502) / `UpstreamTimeout` (504), or an `ApiError`
with the upstream's 4xx status when the upstream refused the request itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from parlay.errors import UpstreamError


@dataclass
class ModelInfo:
    id: str                      # the id clients send in `model`
    provider: str                # provider name, e.g. "openai", "local"
    upstream_id: str             # the id the provider knows it by
    name: str = ""               # display name
    owned_by: str = ""
    created: int = 0
    capabilities: list[str] = field(default_factory=list)  # chat, tools, vision, browser, ...
    context_length: int | None = None
    supported_parameters: list[str] = field(default_factory=list)
    local: bool = False
    enabled: bool = True


class ChatProvider(Protocol):
    name: str
    kind: str  # "openai_compat" | "local"

    async def list_models(self) -> list[ModelInfo]:
        """Ask the upstream which models it serves (raises UpstreamError when down)."""
        ...

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Non-streaming chat completion: the upstream's chat.completion object."""
        ...

    def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        """Streaming chat completion: yields whole SSE events (b"data: {...}\\n\\n"), ending
        with b"data: [DONE]\\n\\n". Closing the iterator (or cancelling the task consuming it)
        cancels the upstream request at once."""
        ...

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        ...

    async def aclose(self) -> None:
        ...


class UpstreamUnreachable(UpstreamError):
    """The upstream could not be reached at all (connect error): its provider is marked down."""
