"""Memory vectors in memory: each user's matrix cached per worker, cosine top-k in numpy.

A cached matrix is tagged with the user's memory version (`memory_states.version`, bumped in
the same transaction as every change) and its vector space, so one primary-key read tells any
worker whether its copy is still right: a deleted memory is never recalled again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

# Worst case one user holds MAX_MEMORIES_PER_USER x 384 floats (1.5 MB); keep many users.
CACHE_BUDGET_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class UserVectors:
    version: int
    space: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    matrix: np.ndarray  # (n, dim) float32 unit rows, row i is memory ids[i]


@dataclass(frozen=True)
class Match:
    id: str
    text: str
    similarity: float


class VectorCache:
    """Least recently used users' matrices, within a byte budget. Event-loop only."""

    def __init__(self, budget_bytes: int = CACHE_BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._used = 0
        self._entries: OrderedDict[str, UserVectors] = OrderedDict()

    def get(self, user_id: str, version: int, space: str) -> UserVectors | None:
        entry = self._entries.get(user_id)
        if entry is None or entry.version != version or entry.space != space:
            return None
        self._entries.move_to_end(user_id)
        return entry

    def put(self, user_id: str, entry: UserVectors) -> None:
        self.drop(user_id)
        self._entries[user_id] = entry
        self._used += entry.matrix.nbytes
        while self._used > self._budget and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._used -= evicted.matrix.nbytes

    def drop(self, user_id: str) -> None:
        entry = self._entries.pop(user_id, None)
        if entry is not None:
            self._used -= entry.matrix.nbytes


def best_matches(vectors: UserVectors, query: np.ndarray, *, min_similarity: float,
                 max_items: int) -> list[Match]:
    """The `max_items` memories most similar to `query` (a unit vector) with a cosine
    similarity of at least `min_similarity`, most similar first."""
    if not vectors.ids or vectors.matrix.shape[1] != query.shape[0]:
        return []
    scores = vectors.matrix @ query
    passing = np.flatnonzero(scores >= min_similarity)
    if passing.size > max_items:
        passing = passing[np.argpartition(-scores[passing], max_items - 1)[:max_items]]
    ranked = passing[np.argsort(-scores[passing], kind="stable")]
    return [Match(vectors.ids[i], vectors.texts[i], float(scores[i])) for i in ranked]


def most_similar(matrix: np.ndarray, query: np.ndarray) -> float:
    """The highest cosine similarity between `query` and any row (-1 when there is none)."""
    if not matrix.shape[0] or matrix.shape[1] != query.shape[0]:
        return -1.0
    return float((matrix @ query).max())


def to_bytes(vector: np.ndarray) -> bytes:
    return vector.astype("<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)
