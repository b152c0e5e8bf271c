"""Soak: 100,000 chat requests (alternating rounds of non-streaming and streaming, 32 at a
time) through one Parlay worker in front of the loopback mock upstream. Prints Parlay's RSS
after start-up, after a warm-up and at the end, and the error count.

    .venv/bin/python bench/soak.py [--requests 100000] [--concurrency 32]

Targets: RSS growth after warm-up < 5%, 0 errors.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway  # the load generator and process helpers live there

ROUND = 5_000
WARMUP_ROUNDS = 2


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with gateway.bench_stack("parlay-soak-") as stack:
        key, parlay_port, pids = stack.key, stack.parlay_port, stack.pids
        parlay_pid = pids[0]
        started_rss = rss_mib(parlay_pid)
        per_connection = max(math.ceil(ROUND / args.concurrency), 1)
        rounds = max(math.ceil(args.requests / (per_connection * args.concurrency)),
                     WARMUP_ROUNDS + 1)
        total = errors = 0
        warm_rss = started_rss
        began = time.perf_counter()
        for index in range(rounds):
            result = gateway._run_load(parlay_port, key, pids,
                                       concurrency=args.concurrency, stream=bool(index % 2),
                                       warmup=0, duration=0, requests=per_connection)
            total += len(result["latencies"]) + result["errors"]
            errors += result["errors"]
            rss = rss_mib(parlay_pid)
            print(f"round {index + 1:>3}/{rounds} {'stream' if index % 2 else 'plain ':<6} "
                  f"requests {total:>7} errors {errors} rss {rss:7.1f} MiB", flush=True)
            if index + 1 == WARMUP_ROUNDS:
                warm_rss = rss
        end_rss = rss_mib(parlay_pid)
        elapsed = time.perf_counter() - began
        growth = 100 * (end_rss / warm_rss - 1)
        print(f"\n{total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s), errors {errors}")
        print(f"RSS: {started_rss:.1f} MiB after start-up, {warm_rss:.1f} MiB after "
              f"{WARMUP_ROUNDS * per_connection * args.concurrency} warm-up requests, "
              f"{end_rss:.1f} MiB at the end: growth {growth:+.1f}% after warm-up")
        ok = errors == 0 and growth < 5
        print(f"targets (growth < 5% after warm-up, 0 errors): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
