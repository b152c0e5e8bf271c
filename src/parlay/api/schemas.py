"""Schemas shared by every router: the data envelope, the error envelope, and the base of
response schemas filled from a service's view."""

from __future__ import annotations

from typing import Annotated, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, WithJsonSchema

T = TypeVar("T")


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


# email-validator (behind EmailStr) refuses special-use domains (RFC 6761 and kin); the pattern
# says so, so clients and fuzzers do not send `x@y.test` expecting it to be taken.
_SPECIAL_USE = "|".join(_any_case(d) for d in ("arpa", "invalid", "local", "localhost",
                                                "onion", "test"))
EMAIL_PATTERN = rf"^[^@\s]+@(?![^@]*\.(?:{_SPECIAL_USE})$)[^@\s]+\.[^@\s]+$"
Email = Annotated[EmailStr, WithJsonSchema({
    "type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN,
    "description": "an email address on a public domain (not .test, .local, ...)"})]


class ViewOut(BaseModel):
    """A response schema filled from the service view with the same field names (frozen
    dataclasses from services/: ItemView, UserView, ...)."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, view: object) -> Self:
        return cls.model_validate(view)


class Data(BaseModel, Generic[T]):
    data: T


class Page(BaseModel, Generic[T]):
    """A page of a list: seed-style offset paging plus OpenAI-style cursor fields."""

    object: str = "list"
    data: list[T]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None
    total: int | None = None


class ErrorDetail(BaseModel):
    type: str
    code: str
    message: str
    param: str | None = None
    request_id: str | None = None


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "Every error has this shape."})
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 429, 500)
}
