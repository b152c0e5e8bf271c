"""Operations endpoints and the cross-cutting error envelope."""

from __future__ import annotations

import httpx

from support.asserts import assert_error


async def test_health_ready_version(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    assert (await client.get("/v1/version")).json()["version"]


async def test_unknown_route_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.get("/v1/nothing-here"), 404, "not_found")
    assert "/v1/nothing-here" in error["message"]


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz")
    assert generated.headers["x-request-id"].startswith("req_")
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\tc"})
    assert hostile.headers["x-request-id"].startswith("req_")


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/v1/does-not-exist")
    text = (await client.get("/metrics")).text
    assert 'parlay_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "parlay_http_request_duration_seconds_bucket" in text
    assert 'parlay_http_errors_total{route="unmatched",status="404"}' in text


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/llm/auth/guest-login" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_method_not_allowed_is_an_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/healthz"), 405, "method_not_allowed")


async def test_oversized_body_is_413(client: httpx.AsyncClient, app) -> None:
    limit = app.state.ctx.settings.max_body_bytes
    big = b'{"email": "' + b"a" * limit + b'"}'
    response = await client.post("/llm/auth/login", content=big,
                                 headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient, app) -> None:
    limit = app.state.ctx.settings.max_body_bytes

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = await client.post("/llm/auth/login", content=chunks(),
                                 headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
