"""The fast path answers like the routes: every error class, sent to an app serving chat
completions (and Responses) through `api/fastpath.py` and to one serving them through FastAPI's router
(`create_app(fast_path=False)`), gets the same status, envelope and headers; every response
carries X-Request-ID (500s and database outages included)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from conftest import ADMIN_KEY, asgi_client, make_settings, new_guest, throwaway_database
from parlay.app import create_app
from parlay.errors import UpstreamError
from parlay.providers.base import ModelInfo
from support.mock_upstream import MockUpstream
from support.tcp_proxy import TcpProxy

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MAX_BODY = 1024 * 1024


class BrokenProvider:
    """A provider with a bug: every call raises something Parlay does not expect."""

    name = "broken"
    kind = "openai_compat"

    async def list_models(self) -> list[ModelInfo]:
        return [BROKEN]

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        raise RuntimeError("a bug")
        yield b""  # pragma: no cover - makes this an async generator

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        raise UpstreamError("never used")

    async def aclose(self) -> None:
        return None


BROKEN = ModelInfo(id="broken-model", provider="broken", upstream_id="broken-model")


@contextlib.asynccontextmanager
async def _app(settings: Any, *, fast_path: bool) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, fast_path=fast_path)
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        app.state.ctx.providers.add(BrokenProvider(), [BROKEN], source="code")
        yield http


@pytest.fixture
async def both(database_url: str, mock_upstream: MockUpstream,
               ) -> AsyncIterator[list[httpx.AsyncClient]]:
    settings = make_settings(database_url, openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key", rate_limits="chat=3/min",
                             max_body_bytes=MAX_BODY)
    async with _app(settings, fast_path=True) as fast, _app(settings, fast_path=False) as routed:
        yield [fast, routed]


def _shape(response: httpx.Response) -> dict[str, Any]:
    """What must match between the two paths (the request id must be the response's own)."""
    assert response.headers.get("x-request-id"), "every response carries X-Request-ID"
    shape: dict[str, Any] = {"status": response.status_code,
                             "content-type": response.headers.get("content-type"),
                             "retry-after": "retry-after" in response.headers,
                             "rate-limit": sorted(h for h in response.headers
                                                  if h.startswith("x-ratelimit"))}
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["request_id"] == response.headers["x-request-id"]
        shape["error"] = {**error, "request_id": None,
                          "message": re.sub(r"\d+", "N", error["message"])}
    return shape


async def _user(http: httpx.AsyncClient) -> dict[str, str]:
    return await new_guest(http)


def _chat(content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "mock-small", "messages": [{"role": "user", "content": content}], **extra}


async def _post(http: httpx.AsyncClient, headers: dict[str, str] | None = None,
                path: str = "/v1/chat/completions", **kwargs: Any) -> httpx.Response:
    return await http.post(path, headers=headers, **kwargs)


Case = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _invalid_json(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), content=b"{not json")


async def _not_an_object(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), content=b"[1]")


async def _no_credentials(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, json=_chat())


async def _bad_token(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, {"Authorization": "Bearer nope"}, json=_chat())


async def _disabled(http: httpx.AsyncClient) -> httpx.Response:
    headers = await _user(http)
    me = (await http.get("/llm/auth/me", headers=headers)).json()["data"]
    key = (await http.post("/llm/auth/api-keys", headers=headers, json={})).json()["data"]["key"]
    patched = await http.patch(f"/v1/admin/users/{me['id']}", headers=ADMIN,
                               json={"disabled": True})
    assert patched.status_code == 200, patched.text
    return await _post(http, {"X-API-Key": key}, json=_chat())


async def _unknown_model(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json={**_chat(), "model": "gpt-4"})


async def _unknown_conversation(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json=_chat(conversation="conv_missing"))


async def _missing_messages(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json={"model": "mock-small"})


async def _content_over_the_cap(http: httpx.AsyncClient) -> httpx.Response:
    headers = await _user(http)
    conv = (await http.post("/v1/conversations", headers=headers, json={})).json()["data"]["id"]
    return await _post(http, headers, json=_chat("x" * 200_001, conversation=conv))


async def _too_large(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json=_chat("x" * MAX_BODY))


async def _rate_limited(http: httpx.AsyncClient) -> httpx.Response:
    headers = await _user(http)
    for _ in range(3):
        assert (await _post(http, headers, json=_chat())).status_code == 200
    return await _post(http, headers, json=_chat())


async def _upstream_failure(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json=_chat("!status 500"))


async def _upstream_failure_streamed(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json=_chat("!status 503", stream=True))


async def _bug(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json={**_chat(), "model": "broken-model"})


async def _bug_streamed(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http),
                       json={**_chat(), "model": "broken-model", "stream": True})


async def _embeddings_invalid(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), "/v1/embeddings", json={"model": "mock-small"})


async def _success(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, await _user(http), json=_chat())


def _response(content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "mock-small", "input": content, "store": False, **extra}


async def _responses(http: httpx.AsyncClient, body: dict[str, Any] | None = None,
                     content: bytes | None = None) -> httpx.Response:
    return await _post(http, await _user(http), "/v1/responses", json=body, content=content)


async def _responses_invalid_json(http: httpx.AsyncClient) -> httpx.Response:
    return await _responses(http, content=b"{not json")


async def _responses_no_credentials(http: httpx.AsyncClient) -> httpx.Response:
    return await _post(http, path="/v1/responses", json=_response())


async def _responses_missing_input(http: httpx.AsyncClient) -> httpx.Response:
    return await _responses(http, {"model": "mock-small"})


async def _responses_unknown_model(http: httpx.AsyncClient) -> httpx.Response:
    return await _responses(http, _response(model="gpt-4"))


async def _responses_rate_limited(http: httpx.AsyncClient) -> httpx.Response:
    headers = await _user(http)
    for _ in range(3):
        answer = await _post(http, headers, "/v1/responses", json=_response())
        assert answer.status_code == 200
    return await _post(http, headers, "/v1/responses", json=_response())


async def _responses_upstream_failure(http: httpx.AsyncClient) -> httpx.Response:
    answer = await _responses(http, _response("!status 500"))
    assert answer.json()["status"] == "failed"
    return answer


async def _responses_bug(http: httpx.AsyncClient) -> httpx.Response:
    return await _responses(http, _response(model="broken-model"))


async def _responses_success(http: httpx.AsyncClient) -> httpx.Response:
    answer = await _responses(http, _response())
    assert answer.json()["output_text"] == "echo: hi"
    return answer


CASES: dict[str, tuple[Case, int, str | None]] = {
    "invalid json": (_invalid_json, 400, "invalid_json"),
    "not an object": (_not_an_object, 400, "invalid_body"),
    "no credentials": (_no_credentials, 401, None),
    "bad token": (_bad_token, 401, None),
    "disabled account": (_disabled, 403, "account_disabled"),
    "unknown model": (_unknown_model, 404, "model_not_found"),
    "unknown conversation": (_unknown_conversation, 404, "conversation_not_found"),
    "missing messages": (_missing_messages, 400, "missing_field"),
    "content over the cap": (_content_over_the_cap, 400, "validation_error"),
    "body too large": (_too_large, 413, "payload_too_large"),
    "rate limited": (_rate_limited, 429, "rate_limited"),
    "upstream failure": (_upstream_failure, 502, "upstream_error"),
    "upstream failure, streamed": (_upstream_failure_streamed, 502, "upstream_error"),
    "a bug": (_bug, 500, "internal_error"),
    "a bug, streamed": (_bug_streamed, 500, "internal_error"),
    "embeddings without input": (_embeddings_invalid, 400, "missing_field"),
    "success": (_success, 200, None),
    "responses: invalid json": (_responses_invalid_json, 400, "invalid_json"),
    "responses: no credentials": (_responses_no_credentials, 401, None),
    "responses: missing input": (_responses_missing_input, 400, "missing_field"),
    "responses: unknown model": (_responses_unknown_model, 404, "model_not_found"),
    "responses: rate limited": (_responses_rate_limited, 429, "rate_limited"),
    "responses: upstream failure": (_responses_upstream_failure, 200, None),
    "responses: a bug": (_responses_bug, 500, "internal_error"),
    "responses: success": (_responses_success, 200, None),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_both_paths_answer_alike(both: list[httpx.AsyncClient], name: str) -> None:
    case, status, code = CASES[name]
    fast, routed = [_shape(await case(http)) for http in both]
    assert fast == routed
    assert fast["status"] == status
    if code is not None:
        assert fast["error"]["code"] == code
    if status >= 500 and status != 502:
        assert fast["error"]["type"] == "server_error"


async def test_database_outage_is_503_on_both_paths(
        mock_upstream: MockUpstream, pg_admin_dsn: str) -> None:
    async with throwaway_database(pg_admin_dsn) as url:
        host, port = re.search(r"@([^:/]+):(\d+)/", url).groups()  # type: ignore[union-attr]
        proxy = await TcpProxy(host, int(port)).start()
        proxied = url.replace(f"@{host}:{port}/", f"@127.0.0.1:{proxy.port}/")
        settings = make_settings(proxied, openai_base_url=mock_upstream.url,
                                 openai_api_key="mock-key", auth_cache_ttl=0)
        async with _app(settings, fast_path=True) as fast, \
                _app(settings, fast_path=False) as routed:
            users = [await _user(fast), await _user(routed)]
            conversations = [(await http.post("/v1/conversations", headers=headers, json={})
                              ).json()["data"]["id"] for http, headers in zip(
                                  (fast, routed), users, strict=True)]
            await proxy.cut()
            for body in (lambda _: _chat(), lambda conv: _chat(conversation=conv)):
                shapes = [_shape(await _post(http, headers, json=body(conv)))
                          for http, headers, conv in zip((fast, routed), users, conversations,
                                                         strict=True)]
                assert shapes[0] == shapes[1]
                assert shapes[0]["status"] == 503, shapes
                assert shapes[0]["error"]["code"] == "database_unavailable"
                assert shapes[0]["retry-after"]
