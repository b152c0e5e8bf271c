"""Conversation store at scale: 1,000,000 items in PostgreSQL, page latency.

    .venv/bin/python bench/store.py [--samples 500] [--dsn postgresql://postgres@127.0.0.1:5432/postgres]

Creates a throwaway database, migrates it, bulk-loads (COPY) 1,000 users x 10 conversations
x 97 items, plus one power user with a 20,000-item conversation and 5,000 two-item
conversations (1,000,000 items, 15,001 conversations), then measures p50/p99 per page:
  - through the service layer (ConversationStore.page / ItemStore.page on the driver
    connections of db/direct.py, as a request would), and
  - through HTTP against `parlay serve` (one worker, JWT auth) on loopback: sequential
    requests on one keep-alive connection from a raw HTTP/1.1 client (bench/gateway.py's).
Target: p99 <= 10 ms per page. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import uvloop

from gateway import Connection  # bench/gateway.py
from parlay.db import migrate
from parlay.db.direct import DirectDB
from parlay.db.engine import make_engine
from parlay.security import encode_access_token
from parlay.services.conversations import ConversationStore
from parlay.services.items import ItemStore

USERS, CONVERSATIONS_PER_USER, ITEMS_PER_CONVERSATION = 1000, 10, 97
LONG_CONVERSATION_ITEMS, POWER_USER_CONVERSATIONS = 20_000, 5_000
TARGET_P99_MS = 10.0
WORDS = ["the", "model", "answers", "questions", "about", "data", "pipelines", "caching",
         "latency", "python", "postgres", "indexes", "pages", "cursors", "offsets", "streams"]
ITEM_COLUMNS = ["id", "conversation_id", "position", "type", "role", "content", "content_type",
                "status", "model", "version", "created_at", "updated_at"]
CONVERSATION_COLUMNS = ["id", "user_id", "title", "metadata", "model", "item_count",
                        "next_position", "created_at", "updated_at"]


def hex_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class Dataset:
    """Ids the measurements pick from."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.conversations: dict[str, list[str]] = {}     # user -> conversation ids
        self.items: dict[str, list[str]] = {}             # conversation -> item ids (sampled)
        self.power_user = ""
        self.long_conversation = ""


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 60))) + f" #{n}"


async def load(conn: asyncpg.Connection, data: Dataset) -> int:
    rng = random.Random(7)
    now = datetime.now(UTC)
    data.users = [hex_id("usr") for _ in range(USERS)]
    data.power_user = hex_id("usr")
    await conn.copy_records_to_table(
        "users", columns=["id", "role", "disabled", "created_at", "updated_at"],
        records=[(u, "user", False, now, now) for u in [*data.users, data.power_user]])

    plan: list[tuple[str, str, int]] = []  # (user, conversation, items)
    for user in data.users:
        for _ in range(CONVERSATIONS_PER_USER):
            plan.append((user, hex_id("conv"), ITEMS_PER_CONVERSATION))
    data.long_conversation = hex_id("conv")
    plan.append((data.power_user, data.long_conversation, LONG_CONVERSATION_ITEMS))
    plan += [(data.power_user, hex_id("conv"), 2) for _ in range(POWER_USER_CONVERSATIONS)]
    conversations = []
    for user, conv, count in plan:
        data.conversations.setdefault(user, []).append(conv)
        updated = now - timedelta(seconds=rng.randint(0, 365 * 86400))
        conversations.append((conv, user, f"conversation {conv[-6:]}", "{}", "mock-small",
                              count, count, updated - timedelta(hours=1), updated))
    await conn.copy_records_to_table("conversations", columns=CONVERSATION_COLUMNS,
                                     records=conversations)

    def rows() -> Iterator[tuple[Any, ...]]:
        n = 0
        for _, conv, count in plan:
            base = now - timedelta(days=30)
            ids = [hex_id("msg") for _ in range(count)]
            data.items[conv] = ids if count > 100 else [*ids[::10], ids[-1]]
            for position, item_id in enumerate(ids):
                n += 1
                stamp = base + timedelta(seconds=position)
                role = "user" if position % 2 == 0 else "assistant"
                yield (item_id, conv, position, "message", role, _text(rng, n), "text",
                       "completed", None if role == "user" else "mock-small", 1, stamp, stamp)

    total, batch = 0, []
    for row in rows():
        batch.append(row)
        if len(batch) == 50_000:
            await conn.copy_records_to_table("conversation_items", columns=ITEM_COLUMNS,
                                             records=batch)
            total += len(batch)
            batch = []
    if batch:
        await conn.copy_records_to_table("conversation_items", columns=ITEM_COLUMNS,
                                         records=batch)
        total += len(batch)
    return total


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


async def measure(call: Callable[[], Awaitable[Any]], samples: int) -> tuple[float, float]:
    for _ in range(min(50, samples)):  # warm caches and the pool
        await call()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def scenarios(data: Dataset, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(name, how to pick a request): user, conversation (None: list conversations), params."""
    power, long_ids = data.power_user, data.items[data.long_conversation]
    deep_conversation = data.conversations[power][4980]  # any id works as a cursor

    def typical() -> tuple[str, str]:
        user = rng.choice(data.users)
        return user, rng.choice(data.conversations[user])

    return [
        ("conversations p1 (10/user)", {"pick": lambda: (rng.choice(data.users), None),
                                        "params": {"limit": 20}}),
        ("conversations p1 (5001/user)", {"pick": lambda: (power, None),
                                          "params": {"limit": 20}}),
        ("conversations offset 4980", {"pick": lambda: (power, None),
                                       "params": {"limit": 20, "offset": 4980}}),
        ("conversations cursor (deep)", {"pick": lambda: (power, None),
                                         "params": {"limit": 20, "after": deep_conversation}}),
        ("items p1 (97/conv)", {"pick": typical, "params": {"limit": 50}}),
        ("items offset 50 (last page)", {"pick": typical, "params": {"limit": 50, "offset": 50}}),
        ("items cursor (mid)", {"pick": lambda: _with_cursor(data, typical()),
                                "params": {"limit": 50}}),
        ("items p1 (20k conv)", {"pick": lambda: (power, data.long_conversation),
                                 "params": {"limit": 50}}),
        ("items offset 19950 (20k)", {"pick": lambda: (power, data.long_conversation),
                                      "params": {"limit": 50, "offset": 19_950}}),
        ("items cursor 19949 (20k)", {"pick": lambda: (power, data.long_conversation),
                                      "params": {"limit": 50, "after": long_ids[19_949]}}),
        ("items desc p1 (20k)", {"pick": lambda: (power, data.long_conversation),
                                 "params": {"limit": 50, "order": "desc"}}),
    ]


def _with_cursor(data: Dataset, picked: tuple[str, str]) -> tuple[str, str, str]:
    user, conv = picked
    return user, conv, data.items[conv][4]  # the 40th item


async def service_call(db: DirectDB, pick: Callable[[], Any], params: dict[str, Any]) -> None:
    user, conv, *cursor = pick()
    extra = {"after": cursor[0]} if cursor else {}
    if conv is None:
        await ConversationStore(db).page(user, **params, **extra)
    else:
        page = await ItemStore(db).page(user, conv, **params, **extra)
        assert page.rows, (conv, params)


def http_call(conn: Connection, port: int, tokens: dict[str, str], pick: Callable[[], Any],
              params: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    """One GET on a kept-alive raw HTTP/1.1 connection (bench/gateway.py's client, which
    costs far less CPU than httpx, so the figures are the server's)."""
    async def call() -> None:
        user, conv, *cursor = pick()
        query = urlencode({**params, **({"after": cursor[0]} if cursor else {})})
        path = "/v1/conversations" if conv is None else f"/v1/conversations/{conv}/items"
        raw = (f"GET {path}?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {tokens[user]}\r\n\r\n").encode()
        status, body = await conn.request(raw)
        assert status == 200, body[:300]
    return call


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url, timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def run(args: argparse.Namespace) -> None:
    name = f"parlay_bench_store_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = args.dsn.rsplit("/", 1)[0] + "/" + name
    try:
        await bench(args, url)
    finally:
        admin = await asyncpg.connect(args.dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        print(f"dropped database {name}")


async def bench(args: argparse.Namespace, url: str) -> None:
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    await migrate.upgrade(engine)
    data = Dataset()
    conn = await asyncpg.connect(url)
    started = time.perf_counter()
    total = await load(conn, data)
    loaded = time.perf_counter() - started
    await conn.execute("VACUUM ANALYZE")
    print(f"loaded {total:,} items in {sum(map(len, data.conversations.values())):,} "
          f"conversations of {len(data.conversations):,} users in {loaded:.0f}s "
          f"(+ VACUUM ANALYZE {time.perf_counter() - started - loaded:.0f}s)")
    await conn.close()

    rng = random.Random(11)
    db = DirectDB(engine.url, engine.dialect)
    results: dict[str, list[tuple[float, float]]] = {}
    for label, spec in scenarios(data, rng):
        call = lambda spec=spec: service_call(db, spec["pick"], spec["params"])  # noqa: E731
        results[label] = [await measure(call, args.samples)]
    await db.aclose()
    await engine.dispose()

    secret = secrets.token_urlsafe(32)
    tokens = {u: encode_access_token(secret, u, "user", 3600)[0]
              for u in [*data.users, data.power_user]}
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="parlay-bench-store-"))
    env = {**os.environ, "PARLAY_DATABASE_URL": url, "PARLAY_JWT_SECRET": secret,
           "PARLAY_LOCAL_MODEL": "off", "PARLAY_LOG_LEVEL": "warning", "PARLAY_WORKERS": "1",
           "PARLAY_RATE_LIMITS": "off", "PARLAY_AUTH_CACHE_TTL": "60"}
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "PARLAY_REDIS_URL"):
        env.pop(var, None)
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
        [sys.executable, "-c", "from parlay.cli import main; main()", "serve", "--port",
         str(port)], cwd=tmp, env=env)
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz")
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(Connection, "127.0.0.1", port)
        try:
            for label, spec in scenarios(data, rng):
                call = http_call(conn, port, tokens, spec["pick"], spec["params"])
                results[label].append(await measure(call, args.samples))
        finally:
            assert conn.transport is not None
            conn.transport.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    report(results, args.samples)


def report(results: dict[str, list[tuple[float, float]]], samples: int) -> None:
    print(f"\n{'page (limit 20 conversations / 50 items)':<36} {'service p50':>11} "
          f"{'p99':>7} {'HTTP p50':>9} {'p99':>7}   (ms, {samples} samples each)")
    worst = 0.0
    for label, ((s50, s99), (h50, h99)) in results.items():
        worst = max(worst, s99, h99)
        print(f"{label:<36} {s50:>11.2f} {s99:>7.2f} {h50:>9.2f} {h99:>7.2f}")
    verdict = "meets" if worst <= TARGET_P99_MS else "MISSES"
    print(f"\nworst p99 {worst:.2f} ms: {verdict} the {TARGET_P99_MS:.0f} ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--dsn", default=os.environ.get(
        "PARLAY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
