"""Responses API overhead: a plain (non-tool) `POST /v1/responses` vs the same request through
`POST /v1/chat/completions`, both through one Parlay process in front of the loopback mock.

    .venv/bin/python bench/responses.py [--requests 1000] [--rounds 5]

Starts the mock upstream and Parlay (one uvicorn worker, SQLite in a temp dir) as separate
processes and drives them at concurrency 1 from a third process (bench/gateway.py's uvloop +
httptools load generator). Each round measures, back to back: chat completions, responses
with `store: false`, responses with `store: true` (the default: one INSERT transaction per
response), and their streamed forms. The box may be shared: read the added p50 of each round
against chat completions measured in the same round, and the spread across rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import Connection, _raw_request, bench_stack, emit

PROMPT = "Explain quantum computing briefly."
CHAT = ("/v1/chat/completions", {"model": "mock-small", "temperature": 0.7, "max_tokens": 150,
                                 "messages": [{"role": "user", "content": PROMPT}]})
RESPONSES = ("/v1/responses", {"model": "mock-small", "temperature": 0.7,
                               "max_output_tokens": 150, "input": PROMPT})
TARGET_ADDED_P50_MS = 0.5


def _scenarios() -> list[tuple[str, str, dict[str, Any], bytes]]:
    """(name, path, body, what a good answer contains)"""
    chat_path, chat = CHAT
    path, body = RESPONSES
    return [
        ("chat", chat_path, chat, b'"chat.completion"'),
        ("responses store=false", path, {**body, "store": False}, b'"status":"completed"'),
        ("responses store=true", path, body, b'"status":"completed"'),
        ("chat stream", chat_path, {**chat, "stream": True}, b"data: [DONE]"),
        ("responses stream store=false", path, {**body, "stream": True, "store": False},
         b"event: response.completed"),
        ("responses stream store=true", path, {**body, "stream": True},
         b"event: response.completed"),
    ]


async def _drive(config: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    raw = _raw_request("127.0.0.1", config["port"], config["path"], config["body"],
                       config["key"])
    expect = config["expect"].encode()
    _transport, conn = await loop.create_connection(Connection, "127.0.0.1", config["port"])
    latencies: list[float] = []
    errors = 0
    for index in range(config["warmup"] + config["requests"]):
        started = time.perf_counter()
        status, payload = await conn.request(raw)
        elapsed = time.perf_counter() - started
        if status != 200 or expect not in payload:
            errors += 1
        elif index >= config["warmup"]:
            latencies.append(elapsed)
    assert conn.transport is not None
    conn.transport.close()
    return {"latencies": latencies, "errors": errors}


def _measure(port: int, key: str, path: str, body: dict[str, Any], expect: bytes,
             requests: int) -> tuple[float, int]:
    config = {"port": port, "key": key, "path": path, "body": body,
              "expect": expect.decode(), "warmup": 100, "requests": requests}
    completed = subprocess.run([sys.executable, __file__, "--loadgen", json.dumps(config)],
                               capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout)
    return statistics.median(result["latencies"]) * 1000, result["errors"]


def _loadgen(config_json: str) -> None:
    import uvloop

    emit(uvloop.run(_drive(json.loads(config_json))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        _loadgen(args.loadgen)
        return
    with bench_stack("parlay-bench-responses-") as stack:
        rounds: list[dict[str, tuple[float, int]]] = []
        for number in range(args.rounds):
            row = {name: _measure(stack.parlay_port, stack.key, path, body, expect,
                                  args.requests)
                   for name, path, body, expect in _scenarios()}
            rounds.append(row)
            print(f"round {number + 1}: " + ", ".join(
                f"{name} {p50:.3f} ms" for name, (p50, _e) in row.items()), flush=True)
    _report(rounds)


def _report(rounds: list[dict[str, tuple[float, int]]]) -> None:
    print(f"\n/v1/responses vs /v1/chat/completions through Parlay ({os.cpu_count()} CPUs, "
          "1 worker, SQLite, concurrency 1), p50 per round\n")
    pairs = [("responses store=false", "chat"), ("responses store=true", "chat"),
             ("responses stream store=false", "chat stream"),
             ("responses stream store=true", "chat stream")]
    for name, reference in pairs:
        added = [r[name][0] - r[reference][0] for r in rounds]
        ratio = [r[name][0] / r[reference][0] for r in rounds]
        errors = sum(r[name][1] + r[reference][1] for r in rounds)
        print(f"{name:<30} vs {reference:<12} added p50 median {statistics.median(added):+.3f} ms "
              f"(rounds {min(added):+.3f} .. {max(added):+.3f}), ratio "
              f"{statistics.median(ratio):.2f}x, errors {errors}")
    plain = statistics.median(r["responses store=false"][0] - r["chat"][0] for r in rounds)
    verdict = "met" if plain <= TARGET_ADDED_P50_MS else "NOT met"
    print(f"\ntarget (plain response, store=false, added p50 <= {TARGET_ADDED_P50_MS} ms): "
          f"{verdict}")


if __name__ == "__main__":
    main()
