"""Schemas shared by every router: the data envelope, the error envelope, and the base of
response schemas filled from a service's view."""

from __future__ import annotations

from typing import Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


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
