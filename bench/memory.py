"""Local embeddings and memory recall latency.

    .venv/bin/python bench/memory.py [--samples 200] [--memories 500] [--db sqlite|postgres]

Runs the app in process (a throwaway SQLite file, or a throwaway PostgreSQL database), gives
one user `--memories` memories (through MemoryService, as the API does), then measures p50/p90:
  - the local model alone: one sentence, and a batch of 32 (EmbeddingEngine.embed);
  - recall with a warm cache (MemoryRuntime.recall: version read + query embedding + cosine
    top-k), next to the query embedding alone in the same run: the difference is what recall
    adds on top of the embedding it cannot avoid;
  - what recall does besides embedding the query (version read, cache check, cosine top-k);
  - recall with a cold cache (the user's memories changed: their vectors are read again).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import make_settings, running_app
from parlay.db.repositories import memories as repo
from parlay.db.repositories.conversations import reads_without_transaction
from parlay.db.repositories.memories import NewMemory
from parlay.services.memory_recall import vector_fields
from parlay.services.memory_vectors import best_matches
from parlay.services.settings import MemoryConfig

TOPICS = ["food", "travel", "family", "work", "music", "sport", "health", "books", "pets",
          "cars", "garden", "money", "school", "films", "weather", "games"]
PG = os.environ.get("PARLAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"p50 {statistics.median(ordered):7.2f} ms   p90 {p90:7.2f} ms"


async def timed(call: Callable[[], Awaitable[Any]], samples: int) -> list[float]:
    await call()  # warm-up
    result = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        result.append((time.perf_counter() - started) * 1000)
    return result


async def seed(app: Any, memories: int) -> str:
    from parlay.services.accounts import AccountService

    ctx = app.state.ctx
    async with ctx.sessionmaker() as session:
        accounts = AccountService(session, jwt_secret=ctx.jwt_secret, access_ttl=60,
                                  refresh_ttl=60, principals=ctx.principals)
        user_id = (await accounts.guest_login()).user.id
    texts = [f"Fact {i}: the user cares about {TOPICS[i % len(TOPICS)]} "
             f"and item number {i} in that area." for i in range(memories)]
    runtime = ctx.memory
    vectors = await runtime.embedder.embed(user_id, texts)
    async with ctx.sessionmaker() as session:
        await runtime.insert(session, user_id, [NewMemory(t, **vector_fields(vectors, i))
                                                for i, t in enumerate(texts)])
    return user_id


async def run(args: argparse.Namespace, database_url: str) -> None:
    settings = make_settings(database_url, memory_max_per_user=max(1000, args.memories))
    async with running_app(settings) as app:
        runtime = app.state.ctx.memory
        engine = app.state.ctx.providers.provider("local-embeddings").engine
        question = "Which restaurant would suit my diet for a family dinner on Friday?"
        batch = [f"Sentence {i} about the user's taste in {TOPICS[i % 16]}." for i in range(32)]
        print(f"local model, one sentence      {percentiles(await timed(lambda: engine.embed([question]), args.samples))}")
        print(f"local model, batch of 32       {percentiles(await timed(lambda: engine.embed(batch), max(10, args.samples // 10)))}")

        user_id = await seed(app, args.memories)
        config = MemoryConfig(enabled=True, min_similarity=0.35, max_items=5)
        # interleave the two so both see the same machine load
        warm, reference = [], []
        for _ in range(args.samples):
            warm += await timed(lambda: runtime.recall(user_id, question, config), 1)
            reference += await timed(lambda: engine.embed([question]), 1)
        print(f"query embedding alone          {percentiles(reference)}")
        print(f"recall, {args.memories} memories, warm   {percentiles(warm)}")
        print(f"  recall adds (p50)            {statistics.median(warm) - statistics.median(reference):7.2f} ms")
        query = (await engine.embed([question])).vectors[0]
        space = runtime.embedder.space()

        async def without_embedding() -> None:  # what recall does besides embedding the query
            async with app.state.ctx.sessionmaker() as session:
                await reads_without_transaction(session)
                version, _count = await repo.state(session, user_id)
                stored = await runtime._vectors(session, user_id, space, version)
            best_matches(stored, query, min_similarity=0.35, max_items=5)
        print(f"  recall minus the embedding   {percentiles(await timed(without_embedding, args.samples))}")

        async def cold() -> None:
            runtime.cache.drop(user_id)
            await runtime.recall(user_id, question, config)
        print(f"recall, {args.memories} memories, cold   "
              f"{percentiles(await timed(cold, max(10, args.samples // 5)))}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--memories", type=int, default=500)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    print(f"memory bench: {args.memories} memories, {args.samples} samples, {args.db}, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            await run(args, f"sqlite:///{folder}/bench.db")
        return
    name = f"parlay_bench_memory_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        await run(args, PG.rsplit("/", 1)[0] + "/" + name)
    finally:
        conn = await asyncpg.connect(PG)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
