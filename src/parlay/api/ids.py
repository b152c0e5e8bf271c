"""Path and query parameters naming Parlay's resources: a well-formed id or a 422, so no
malformed value (NUL bytes, say) ever reaches a query."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from parlay.services.conversations import ID_PATTERN

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"

ConversationId = Annotated[str, Path(pattern=ID_PATTERN,
                                     examples=["conv_3f9a0c1d2e4b5a6978812233"])]
ItemId = Annotated[str, Path(pattern=ID_PATTERN, examples=["msg_3f9a0c1d2e4b5a6978812233"])]
ShareId = Annotated[str, Path(pattern=ID_PATTERN, examples=["shr_3f9a0c1d2e4b5a6978812233"])]
ShareToken = Annotated[str, Path(pattern=TOKEN_PATTERN)]
MemoryId = Annotated[str, Path(pattern=ID_PATTERN, examples=["mem_3f9a0c1d2e4b5a6978812233"])]


def cursor(description: str) -> object:
    return Query(pattern=ID_PATTERN, description=description)
