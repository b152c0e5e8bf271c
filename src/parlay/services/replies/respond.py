"""Step 4 of a streamed reply: the shape its events take for the client.

`ReplyRun` decides what reaches the client and when (text as it comes; what ends the reply
only once it is stored); a `StreamShape` says how each piece is written. Chat completions
(and conversation items) use `ChatChunks`: the upstream's own `chat.completion.chunk` bytes.
Another API (the Responses API's `response.*` events) implements the same four methods from
the typed events, without touching the run.
"""

from __future__ import annotations

from typing import Any, Protocol

from parlay.providers.sse import DONE, ModelEvent, data_event
from parlay.services.chat import error_event
from parlay.services.replies.persist import ReplyOutcome


class StreamShape(Protocol):
    def start(self) -> list[bytes]:
        """Events before the model's first (after the reply was stored in_progress)."""
        ...

    def event(self, raw: bytes, found: list[ModelEvent]) -> list[bytes]:
        """The client's events for one upstream event (`raw`, decoded as `found`)."""
        ...

    def end(self, outcome: ReplyOutcome, summed_usage: dict[str, Any] | None) -> list[bytes]:
        """The last events of a reply that ended (stored already). `summed_usage`: the usage
        of every model step, when there were several and the client asked for usage."""
        ...

    def error(self, exc: Exception, request_id: str | None) -> list[bytes]:
        """The last events of a reply that failed after its stream started."""
        ...


class ChatChunks:
    """OpenAI's chat.completion.chunk stream: the upstream's bytes, then `[DONE]`."""

    def __init__(self, model: str) -> None:
        self._model = model

    def start(self) -> list[bytes]:
        return []

    def event(self, raw: bytes, found: list[ModelEvent]) -> list[bytes]:
        return [raw]

    def end(self, outcome: ReplyOutcome, summed_usage: dict[str, Any] | None) -> list[bytes]:
        if summed_usage is None:
            return [DONE]
        usage = {"object": "chat.completion.chunk", "model": self._model, "choices": [],
                 "usage": summed_usage}
        return [data_event(usage), DONE]

    def error(self, exc: Exception, request_id: str | None) -> list[bytes]:
        return [error_event(exc, request_id)]
