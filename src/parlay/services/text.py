"""Text every database can store: no NUL or other control characters (tab and newlines are
fine), no lone surrogates. PostgreSQL refuses both, so they are refused at the edge (422)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def storable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


StorableText = Annotated[str, AfterValidator(storable)]
