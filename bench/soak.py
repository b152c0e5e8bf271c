"""Soak: 100,000 chat requests (alternating rounds of non-streaming and streaming, 32 at a
time) through one Parlay worker in front of the loopback mock upstream. Prints Parlay's RSS
after start-up, after a warm-up and at the end, and the error count.

    .venv/bin/python bench/soak.py [--requests 100000] [--concurrency 32]

Targets: RSS growth after warm-up < 5%, 0 errors.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import subprocess
import sys
import tempfile
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
    tmp = Path(tempfile.mkdtemp(prefix="parlay-soak-"))
    mock_port, parlay_port = gateway._free_port(), gateway._free_port()
    env = {**os.environ, "PARLAY_DATABASE_URL": f"sqlite:///{tmp}/parlay.db",
           "OPENAI_BASE_URL": f"http://127.0.0.1:{mock_port}/v1", "PARLAY_LOCAL_MODEL": "off",
           "PARLAY_LOG_LEVEL": "info", "PARLAY_WORKERS": "1",
           "PARLAY_JWT_SECRET": secrets.token_urlsafe(32),
           "PARLAY_SECRET_KEY": secrets.token_urlsafe(32),
           "PARLAY_RATE_LIMITS": "auth=1000/min,chat=100000000/min,api=100000000/min"}
    env.pop("OPENAI_API_KEY", None)
    logs = open(tmp / "parlay.log", "w")  # noqa: SIM115 - closed at the end
    mock = subprocess.Popen([sys.executable, str(gateway.ROOT / "tests/support/mock_upstream.py"),
                             "--port", str(mock_port)], cwd=gateway.ROOT)
    parlay = subprocess.Popen([sys.executable, "-c", "from parlay.cli import main; main()",
                               "serve", "--port", str(parlay_port)],
                              cwd=tmp, env=env, stdout=logs, stderr=logs)
    try:
        gateway._wait_http(f"http://127.0.0.1:{mock_port}/v1/models")
        gateway._wait_http(f"http://127.0.0.1:{parlay_port}/healthz")
        base = f"http://127.0.0.1:{parlay_port}"
        token = gateway._post(f"{base}/llm/auth/guest-login", {})["access_token"]
        key = gateway._post(f"{base}/llm/auth/api-keys", {"Authorization": f"Bearer {token}"},
                            {"name": "soak"})["data"]["key"]
        started_rss = rss_mib(parlay.pid)
        per_connection = max(math.ceil(ROUND / args.concurrency), 1)
        rounds = max(math.ceil(args.requests / (per_connection * args.concurrency)),
                     WARMUP_ROUNDS + 1)
        total = errors = 0
        warm_rss = started_rss
        began = time.perf_counter()
        for index in range(rounds):
            result = gateway._run_load(parlay_port, key, [parlay.pid, mock.pid],
                                       concurrency=args.concurrency, stream=bool(index % 2),
                                       warmup=0, duration=0, requests=per_connection)
            total += len(result["latencies"]) + result["errors"]
            errors += result["errors"]
            rss = rss_mib(parlay.pid)
            print(f"round {index + 1:>3}/{rounds} {'stream' if index % 2 else 'plain ':<6} "
                  f"requests {total:>7} errors {errors} rss {rss:7.1f} MiB", flush=True)
            if index + 1 == WARMUP_ROUNDS:
                warm_rss = rss
        end_rss = rss_mib(parlay.pid)
        elapsed = time.perf_counter() - began
        growth = 100 * (end_rss / warm_rss - 1)
        print(f"\n{total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s), errors {errors}")
        print(f"RSS: {started_rss:.1f} MiB after start-up, {warm_rss:.1f} MiB after "
              f"{WARMUP_ROUNDS * per_connection * args.concurrency} warm-up requests, "
              f"{end_rss:.1f} MiB at the end: growth {growth:+.1f}% after warm-up")
        ok = errors == 0 and growth < 5
        print(f"targets (growth < 5% after warm-up, 0 errors): {'met' if ok else 'NOT met'}")
    finally:
        gateway.stop_processes(parlay, mock)
        logs.close()


if __name__ == "__main__":
    main()
