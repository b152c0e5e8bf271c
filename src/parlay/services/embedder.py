"""Texts to unit vectors with the memory embedding model: the local one unless the operator
named another (`PARLAY_MEMORY_EMBEDDING_MODEL`, any embeddings model the registry serves).

The model is resolved on every call (a dict lookup), so an admin disabling it or a provider
coming back takes effect at once. Each result names its vector space (model and revision):
vectors of different spaces are never compared; stored ones are recomputed instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from parlay.errors import ServiceUnavailable, UpstreamError
from parlay.providers.base import ModelInfo
from parlay.providers.registry import ProviderRegistry

UPSTREAM_BATCH = 256  # texts per upstream request (OpenAI takes 2,048; others fewer)


@dataclass(frozen=True)
class Vectors:
    space: str
    matrix: np.ndarray  # (n, dim) float32, rows of unit length (zero rows stay zero)


class Embedder:
    def __init__(self, registry: ProviderRegistry, chat: Any, model_id: str | None) -> None:
        self._registry = registry
        self._chat = chat  # parlay.services.chat.ChatService: upstream calls, usage, fallbacks
        self.model_id = model_id

    @property
    def configured(self) -> bool:
        return self.model_id is not None

    def space(self) -> str:
        """The vector space the model answers in now (raises when it is not served)."""
        route = self._route()
        return space_of(route.info, route.provider)

    async def embed(self, user_id: str, texts: list[str]) -> Vectors:
        route = self._route()
        embed_texts = getattr(route.provider, "embed_texts", None)
        if embed_texts is not None:  # in-process model: no JSON round trip
            return Vectors(space_of(route.info, route.provider), await embed_texts(texts))
        spaces, parts = set(), []
        for start in range(0, len(texts), UPSTREAM_BATCH):
            batch = texts[start:start + UPSTREAM_BATCH]
            result = await self._chat.embeddings(user_id, {
                "model": self.model_id, "input": batch, "encoding_format": "float"})
            answered = self._registry.resolve(str(result.get("model") or self.model_id))
            spaces.add(space_of(answered.info, answered.provider))
            parts.append(_matrix(result, len(batch)))
        if len(spaces) != 1 or len({part.shape[1] for part in parts}) != 1:
            raise UpstreamError("the embeddings upstream answered from different models")
        return Vectors(spaces.pop(), np.concatenate(parts))

    def _route(self) -> Any:
        if self.model_id is None:
            raise ServiceUnavailable(
                "memory has no embedding model: install the local one (`make install-local`) "
                "or set PARLAY_MEMORY_EMBEDDING_MODEL", code="embedding_model_unavailable")
        return self._registry.resolve(self.model_id)


def space_of(info: ModelInfo, provider: Any) -> str:
    return getattr(provider, "vector_space", None) or f"{info.provider}/{info.upstream_id}"


def normalized(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _matrix(result: Any, expected: int) -> np.ndarray:
    """The vectors of an OpenAI embeddings answer, in input order, checked."""
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise UpstreamError("the embeddings upstream answered with the wrong number of vectors")
    rows: list[Any] = [None] * expected
    for position, item in enumerate(data):
        index = item.get("index", position) if isinstance(item, dict) else None
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < expected or not isinstance(vector,
                                                                                      list):
            raise UpstreamError("the embeddings upstream answered with a malformed vector")
        rows[index] = vector
    try:
        matrix = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise UpstreamError("the embeddings upstream answered with a malformed vector") from None
    if matrix.ndim != 2 or not matrix.shape[1] or not np.isfinite(matrix).all():
        raise UpstreamError("the embeddings upstream answered with a malformed vector")
    return normalized(matrix)
