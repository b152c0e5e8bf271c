"""Domain errors and the one JSON error envelope every failure is rendered as.

Services raise `ApiError` subclasses (no HTTP objects); `api.errors` turns them into responses.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status: int = 400
    type: str = "invalid_request_error"
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.param = param
        self.headers = headers or {}

    def body(self, request_id: str | None) -> dict[str, Any]:
        return error_body(self.type, self.code, self.message, self.param, request_id)


def error_body(
    type_: str, code: str, message: str, param: str | None, request_id: str | None
) -> dict[str, Any]:
    return {
        "error": {
            "type": type_,
            "code": code,
            "message": message,
            "param": param,
            "request_id": request_id,
        }
    }


class BadRequest(ApiError):
    status = 400


class ValidationFailed(ApiError):
    status = 422
    code = "validation_error"


class Unauthorized(ApiError):
    status = 401
    type = "authentication_error"
    code = "invalid_token"


class Forbidden(ApiError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class Conflict(ApiError):
    status = 409
    type = "conflict_error"
    code = "conflict"


class Gone(ApiError):
    status = 410
    type = "not_found_error"
    code = "gone"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class RateLimited(ApiError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"


class UpstreamError(ApiError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamBusy(UpstreamError):
    """Every connection to the provider is in use and none came free in time."""

    status = 503
    code = "upstream_busy"


class ServiceUnavailable(ApiError):
    status = 503
    type = "server_error"
    code = "service_unavailable"
