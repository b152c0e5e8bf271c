"""What a stored message may hold: the one definition of the content caps, and the text and
structured forms of content. Every path that stores content (conversation items, chat
completions with a `conversation`, conversations created with items, edits) checks here;
the API schemas state the same numbers for OpenAPI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parlay.errors import ValidationFailed

# One message's text: generous for pasted documents, small enough to keep pages fast.
MAX_CONTENT_CHARS = 200_000
MAX_CONTENT_PARTS = 100
MAX_PART_TYPE_CHARS = 64
MAX_CONTENT_TYPE_CHARS = 50
MAX_ITEMS_PER_REQUEST = 100

TEXT_PART_TYPES = frozenset({"input_text", "output_text", "text", "refusal"})

Content = str | Sequence[dict[str, Any]]


def check_storable(value: Any, param: str) -> None:
    """Refuse what PostgreSQL cannot store in text or JSON: NUL characters, lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed("text must not contain NUL characters", param=param)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed("text must be valid Unicode (no lone surrogates)",
                                   param=param) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, param)
            check_storable(item, f"{param}.{key}"[:100])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, f"{param}.{index}")


def check_content(content: Any, param: str = "content") -> None:
    """A message's content within the caps: a string, or 1 to MAX_CONTENT_PARTS parts each
    with a string `type`; at most MAX_CONTENT_CHARS characters of text in all; storable."""
    if isinstance(content, str):
        _check_length(len(content), param)
    elif isinstance(content, list):
        if not 1 <= len(content) <= MAX_CONTENT_PARTS:
            raise ValidationFailed(f"content holds 1 to {MAX_CONTENT_PARTS} parts",
                                   param=param)
        for index, part in enumerate(content):
            _check_part(part, f"{param}.{index}")
        _check_length(len(text_of(content)), param)
    else:
        raise ValidationFailed("content must be a string or a list of content parts",
                               param=param)
    check_storable(content, param)


def check_content_type(content_type: Any, param: str = "content_type") -> None:
    if not isinstance(content_type, str) or not 1 <= len(content_type) <= MAX_CONTENT_TYPE_CHARS:
        raise ValidationFailed(f"content_type is 1 to {MAX_CONTENT_TYPE_CHARS} characters",
                               param=param)
    check_storable(content_type, param)


def check_item_count(count: int, param: str) -> None:
    if count > MAX_ITEMS_PER_REQUEST:
        raise ValidationFailed(f"at most {MAX_ITEMS_PER_REQUEST} items are stored per request",
                               param=param)


def storable_text(text: str) -> str:
    """A model's output made storable: NUL characters (which PostgreSQL refuses) replaced."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def text_of(content: Content) -> str:
    """The plain text of string content or of OpenAI content parts (text parts joined)."""
    if isinstance(content, str):
        return content
    texts = [str(part.get("text") or part.get("refusal") or "") for part in content
             if part.get("type") in TEXT_PART_TYPES]
    return "\n".join(t for t in texts if t)


def parts_of(content: Content) -> list[dict[str, Any]] | None:
    """What to keep in `content_parts`: structured input as given; NULL for plain text."""
    if isinstance(content, str):
        return None
    return [dict(part) for part in content]


def default_parts(role: str, text: str) -> list[dict[str, Any]]:
    kind = "output_text" if role == "assistant" else "input_text"
    return [{"type": kind, "text": text}]


def _check_part(part: Any, param: str) -> None:
    if not isinstance(part, dict):
        raise ValidationFailed("every content part must be an object", param=param)
    kind = part.get("type")
    if not isinstance(kind, str) or not 1 <= len(kind) <= MAX_PART_TYPE_CHARS:
        raise ValidationFailed(f"every content part needs a string 'type' of 1 to "
                               f"{MAX_PART_TYPE_CHARS} characters", param=f"{param}.type")
    text = part.get("text")
    if kind in ("input_text", "output_text", "text") and not isinstance(text, str):
        raise ValidationFailed(f"a {kind!r} part needs a string 'text'", param=f"{param}.text")
    if isinstance(text, str):
        _check_length(len(text), f"{param}.text")


def _check_length(length: int, param: str) -> None:
    if length > MAX_CONTENT_CHARS:
        raise ValidationFailed(f"a message holds at most {MAX_CONTENT_CHARS} characters of "
                               f"text ({length} sent)", param=param)
