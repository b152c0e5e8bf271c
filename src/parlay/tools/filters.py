"""Content filters of MCP tools: validated keyword lists and case-insensitive matching.

Keywords are plain strings (no regex): a keyword hits when it occurs in the text ignoring
case and differences in whitespace ("DROP   TABLE" hits "drop table").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from parlay.tools.capabilities import APPROVAL_CATEGORIES

MAX_KEYWORDS = 200
MAX_KEYWORD_LENGTH = 200
MAX_APPROVAL_ITEMS = 50

_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class FilterError(ValueError):
    """A filter value is not acceptable; `index` is the position of the bad entry."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def clean_keywords(values: Iterable[object]) -> list[str]:
    """Trimmed, non-empty, unique ignoring case (first spelling kept), bounded in size."""
    cleaned: list[str] = []
    seen: set[str] = set()
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise FilterError("keywords must be strings", index)
        keyword = _SPACE.sub(" ", value).strip()
        if not keyword:
            raise FilterError("keywords must not be empty", index)
        if len(keyword) > MAX_KEYWORD_LENGTH:
            raise FilterError(f"keywords are at most {MAX_KEYWORD_LENGTH} characters", index)
        if _CONTROL.search(keyword):
            raise FilterError("keywords must not contain control characters", index)
        key = keyword.casefold()
        if key not in seen:
            seen.add(key)
            cleaned.append(keyword)
    if len(cleaned) > MAX_KEYWORDS:
        raise FilterError(f"at most {MAX_KEYWORDS} keywords")
    return cleaned


def clean_approval_items(values: Iterable[object]) -> list[str]:
    cleaned: list[str] = []
    for index, value in enumerate(values):
        item = value.strip().lower() if isinstance(value, str) else None
        if item not in APPROVAL_CATEGORIES:
            raise FilterError(
                f"entries are approval categories: {', '.join(APPROVAL_CATEGORIES)}", index)
        if item not in cleaned:
            cleaned.append(item)
    if len(cleaned) > MAX_APPROVAL_ITEMS:
        raise FilterError(f"at most {MAX_APPROVAL_ITEMS} entries")
    return cleaned


@dataclass(frozen=True, slots=True)
class ContentFilter:
    disallowed_keywords: tuple[str, ...] = ()
    require_approval_for: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: dict | None) -> ContentFilter:
        value = value or {}
        return cls(tuple(value.get("disallowed_keywords") or ()),
                   tuple(value.get("require_approval_for") or ()))

    def to_json(self) -> dict[str, list[str]]:
        return {"disallowed_keywords": list(self.disallowed_keywords),
                "require_approval_for": list(self.require_approval_for)}

    def matches(self, text: str) -> list[str]:
        """The disallowed keywords that occur in `text`, in filter order."""
        haystack = _normalise(text)
        return [kw for kw in self.disallowed_keywords if _normalise(kw) in haystack]

    def approval_reasons(self, categories: set[str]) -> list[str]:
        """The configured categories this call falls in, in filter order."""
        return [item for item in self.require_approval_for if item in categories]
