"""The local embedding model (all-MiniLM-L6-v2, int8 ONNX) at POST /v1/embeddings: OpenAI's
shapes (float and base64, through the official SDK too), real vectors, refusals, the catalog
entry, the off switch, and the event loop staying free while it computes."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import numpy as np
import pytest
from openai import AsyncOpenAI

from conftest import asgi_client, make_settings, new_guest, running_app
from parlay.errors import ServiceUnavailable
from parlay.providers.local_embeddings import (
    DIMENSIONS,
    MODEL_ID,
    EmbeddingEngine,
    EmbeddingFiles,
    bundled_files,
)
from support.asserts import assert_error


async def embed(client: httpx.AsyncClient, headers: dict, **body) -> httpx.Response:
    return await client.post("/v1/embeddings", headers=headers, json={"model": MODEL_ID, **body})


def vectors(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array([item["embedding"] for item in response.json()["data"]], dtype=np.float32)


async def test_openai_shape_for_one_text(client: httpx.AsyncClient, guest: dict) -> None:
    response = await embed(client, guest, input="The quick brown fox jumps over the lazy dog.")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert (body["object"], body["model"]) == ("list", MODEL_ID)
    (item,) = body["data"]
    assert set(item) == {"object", "index", "embedding"}
    assert (item["object"], item["index"]) == ("embedding", 0)
    assert len(item["embedding"]) == DIMENSIONS
    assert abs(np.linalg.norm(item["embedding"]) - 1.0) < 1e-4
    # [CLS] + 10 word pieces + [SEP]: the tokenizer's own count
    assert body["usage"] == {"prompt_tokens": 12, "total_tokens": 12}


async def test_vectors_carry_meaning(client: httpx.AsyncClient, guest: dict) -> None:
    texts = ["I love my dog.", "Puppies are wonderful pets.", "File the quarterly VAT return.",
             "I love my dog."]
    matrix = vectors(await embed(client, guest, input=texts))
    assert matrix.shape == (4, DIMENSIONS)
    similarity = matrix @ matrix.T
    assert similarity[0, 1] > 0.4 > 0.15 > similarity[0, 2]
    assert similarity[0, 3] > 0.9999  # same text, same vector
    # a text's vector does not depend on the batch it came in (padding is masked)
    alone = vectors(await embed(client, guest, input=texts[2]))
    assert np.allclose(alone[0], matrix[2], atol=1e-5)


async def test_base64_is_little_endian_float32(client: httpx.AsyncClient, guest: dict) -> None:
    texts = ["alpha", "beta gamma"]
    floats = vectors(await embed(client, guest, input=texts))
    response = await embed(client, guest, input=texts, encoding_format="base64")
    assert response.status_code == 200, response.text
    decoded = np.array([np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
                        for item in response.json()["data"]])
    assert np.array_equal(decoded, floats)


async def test_official_sdk(app, client: httpx.AsyncClient, guest: dict) -> None:
    token = guest["Authorization"].split()[1]
    async with asgi_client(app) as http:
        sdk = AsyncOpenAI(base_url="http://testserver/v1", api_key=token, http_client=http)
        result = await sdk.embeddings.create(model=MODEL_ID, input=["hello", "world"])
    assert [item.index for item in result.data] == [0, 1]
    assert len(result.data[1].embedding) == DIMENSIONS
    assert result.usage.total_tokens == 6
    expected = vectors(await embed(client, guest, input=["hello", "world"]))
    assert np.allclose(np.array([d.embedding for d in result.data]), expected, atol=1e-6)


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"input": ""}, "invalid_value", "input[0]"),
    ({"input": ["ok", "  "]}, "invalid_value", "input[1]"),
    ({"input": []}, "invalid_value", "input"),
    ({"input": [1, 2, 3]}, "unsupported_content", "input[0]"),
    ({"input": [[1, 2], [3]]}, "unsupported_content", "input[0]"),
    ({"input": ["x"] * 2049}, "invalid_value", "input"),
    ({"input": "x", "dimensions": 256}, "unsupported_parameter", "dimensions"),
    ({"input": "x", "encoding_format": "int8"}, "invalid_value", "encoding_format"),
])
async def test_refusals(client: httpx.AsyncClient, guest: dict, body: dict, code: str,
                        param: str) -> None:
    error = assert_error(await embed(client, guest, **body), 400, code)
    assert error["param"] == param


async def test_dimensions_384_is_accepted(client: httpx.AsyncClient, guest: dict) -> None:
    assert vectors(await embed(client, guest, input="x", dimensions=384)).shape == (1, 384)


async def test_chat_with_the_embedding_model_is_refused(client: httpx.AsyncClient,
                                                        guest: dict) -> None:
    for stream in (False, True):
        response = await client.post("/v1/chat/completions", headers=guest, json={
            "model": MODEL_ID, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        assert_error(response, 400, "model_not_supported")


async def test_catalog_entry(app, client: httpx.AsyncClient, guest: dict) -> None:
    listed = (await client.get("/v1/models", headers=guest)).json()["data"]
    assert MODEL_ID in [m["id"] for m in listed]
    catalog = (await client.get("/v1/models/catalogs", headers=guest,
                                params={"capability": "embeddings"})).json()["data"]
    (entry,) = [m for m in catalog if m["id"] == MODEL_ID]
    assert entry["capabilities"] == ["embeddings"]
    assert (entry["local"], entry["available"], entry["provider"]) == (
        True, True, "local-embeddings")
    assert entry["context_length"] == 256
    chat_models = (await client.get("/v1/models/catalogs", headers=guest,
                                    params={"capability": "chat"})).json()["data"]
    assert MODEL_ID not in [m["id"] for m in chat_models]
    assert app.state.ctx.providers.default_model() != MODEL_ID  # never answers chat


async def test_off_switch(database_url: str) -> None:
    async with running_app(make_settings(database_url, local_embedding_model="off")) as app, \
            asgi_client(app) as client:
        guest = await new_guest(client)
        assert_error(await embed(client, guest, input="hello"), 404, "model_not_found")
        catalog = (await client.get("/v1/models/catalogs", headers=guest)).json()["data"]
        assert MODEL_ID not in [m["id"] for m in catalog]


async def test_event_loop_stays_free(client: httpx.AsyncClient, guest: dict) -> None:
    """A big batch runs on the model's worker thread: other requests are answered meanwhile."""
    texts = [f"Sentence {i} about the weather in town number {i}, which is rather mild today "
             "with a little wind from the west and clouds later." for i in range(1024)]
    started = time.perf_counter()
    big = asyncio.create_task(embed(client, guest, input=texts))
    await asyncio.sleep(0.05)
    answered = 0
    while not big.done():
        health = await client.get("/healthz")
        assert health.status_code == 200
        answered += 1
        await asyncio.sleep(0.02)
    result = await big
    assert vectors(result).shape == (1024, DIMENSIONS)
    elapsed = time.perf_counter() - started
    assert answered >= 3, f"only {answered} health checks answered in {elapsed:.2f}s"


async def test_a_damaged_model_file_is_refused(tmp_path) -> None:
    files = bundled_files()
    assert files is not None, "the local embedding model is not installed (make install-local)"
    damaged = tmp_path / "model.onnx"
    data = bytearray(files.model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    engine = EmbeddingEngine(EmbeddingFiles(damaged, files.tokenizer))
    try:
        with pytest.raises(ServiceUnavailable) as refused:
            await engine.embed(["hello"])
        assert refused.value.code == "local_model_unavailable"
        assert "SHA-256" in refused.value.message
    finally:
        engine.close()
