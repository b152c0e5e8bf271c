"""Assertions shared by the test modules."""

from __future__ import annotations

import httpx


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is the one error envelope, with this status (and code, when given)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert error["code"] == code, error
    return error
