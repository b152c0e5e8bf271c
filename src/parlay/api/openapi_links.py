"""OpenAPI links: which answer supplies the ids another operation takes (a created
conversation's id for its items, a share's token for its public page...), so clients, code
generators and fuzzers can follow a resource from the request that created it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

Operation = tuple[str, str]  # (method, path) as in the schema

_CONVERSATION = {"conversation_id": "$response.body#/data/id"}
_ITEM = {"conversation_id": "$response.body#/data/conversation_id",
         "item_id": "$response.body#/data/id"}
_SHARE = {"share_id": "$response.body#/data/id"}
_TOKEN = {"token": "$response.body#/data/share_token"}
_PROVIDER = {"provider_id": "$response.body#/data/id"}

# (the creating operation, its status) -> [(an operation that takes what it returned, how)]
LINKS: dict[tuple[Operation, str], list[tuple[Operation, dict[str, str]]]] = {
    (("post", "/v1/conversations"), "201"): [
        (("get", "/v1/conversations/{conversation_id}"), _CONVERSATION),
        (("patch", "/v1/conversations/{conversation_id}"), _CONVERSATION),
        (("post", "/v1/conversations/{conversation_id}"), _CONVERSATION),
        (("delete", "/v1/conversations/{conversation_id}"), _CONVERSATION),
        (("post", "/v1/conversations/{conversation_id}/items"), _CONVERSATION),
        (("get", "/v1/conversations/{conversation_id}/items"), _CONVERSATION),
        (("post", "/v1/conversations/{conversation_id}/share"), _CONVERSATION),
        (("get", "/v1/conversations/{conversation_id}/shares"), _CONVERSATION),
    ],
    (("post", "/v1/conversations/{conversation_id}/items"), "201"): [
        (("get", "/v1/conversations/{conversation_id}/items/{item_id}"), _ITEM),
        (("patch", "/v1/conversations/{conversation_id}/items/{item_id}"), _ITEM),
        (("delete", "/v1/conversations/{conversation_id}/items/{item_id}"), _ITEM),
        (("post", "/v1/conversations/{conversation_id}/items/{item_id}/regenerate"), _ITEM),
        (("get", "/v1/conversations/{conversation_id}/items/{item_id}/versions"), _ITEM),
    ],
    (("post", "/v1/conversations/{conversation_id}/share"), "201"): [
        (("get", "/v1/shares/{share_id}"), _SHARE),
        (("delete", "/v1/shares/{share_id}"), _SHARE),
        (("get", "/v1/shares/{share_id}/feedback"), _SHARE),
        (("get", "/v1/public/shares/{token}"), _TOKEN),
        (("post", "/v1/public/shares/{token}/feedback"), _TOKEN),
        (("post", "/v1/public/shares/{token}/fork"), _TOKEN),
        (("get", "/share/{token}"), _TOKEN),
    ],
    (("post", "/v1/public/shares/{token}/fork"), "201"): [
        (("get", "/v1/conversations/{conversation_id}"), _CONVERSATION),
    ],
    (("post", "/llm/auth/api-keys"), "201"): [
        (("delete", "/llm/auth/api-keys/{key_id}"), {"key_id": "$response.body#/data/id"}),
    ],
    (("post", "/llm/auth/register"), "201"): [
        (("patch", "/v1/admin/users/{user_id}"), {"user_id": "$response.body#/user_id"}),
    ],
    (("post", "/v1/admin/providers"), "201"): [
        (("get", "/v1/admin/providers/{provider_id}"), _PROVIDER),
        (("patch", "/v1/admin/providers/{provider_id}"), _PROVIDER),
        (("delete", "/v1/admin/providers/{provider_id}"), _PROVIDER),
        (("post", "/v1/admin/providers/{provider_id}/sync"), _PROVIDER),
    ],
}


def add_links(schema: dict[str, Any]) -> None:
    """Declare LINKS on the creating operations' responses (a missing route is a bug here)."""
    paths = schema["paths"]
    for ((method, path), status), targets in LINKS.items():
        response = _operation(paths, method, path)["responses"][status]
        links = response.setdefault("links", {})
        for (target_method, target_path), parameters in targets:
            operation_id = _operation(paths, target_method, target_path)["operationId"]
            links[operation_id] = {"operationId": operation_id, "parameters": parameters}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) carry the links."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_links(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _operation(paths: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    try:
        return paths[path][method]
    except KeyError:
        raise RuntimeError(f"openapi_links: no operation {method.upper()} {path}; update "
                           "LINKS where the route moved") from None
