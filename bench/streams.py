"""Many long streams at once through one Parlay process: errors, and memory per open stream.

    .venv/bin/python bench/streams.py [--streams 2000] [--seconds 20] [--cap N] [--pool-timeout S]

Starts the mock upstream and Parlay (one uvicorn worker, SQLite, API-key auth) as separate
processes, opens N streaming chat completions that each last `--seconds` (the mock sends
one chunk a second: `!slow 1`), and reports how many failed (by status) and Parlay's RSS
growth per open stream over a warmed-up baseline. `--cap` is the provider's connection cap
(PARLAY_UPSTREAM_MAX_CONNECTIONS, default: enough for every stream); with a smaller cap the
streams beyond it wait `--pool-timeout` and get 503 `upstream_busy`, never 502.

Target: 0 errors with the cap at N, RSS per open stream < 100 KiB.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway  # process helpers
from soak import rss_mib


def _raise_fd_limit(streams: int) -> None:
    """Each stream is three sockets (client, Parlay's two ends); children inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, min(hard, 4 * streams + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < 3 * streams + 256:
        sys.exit(f"streams: the open-file limit ({hard}) is too low for {streams} streams")


async def _one_stream(http: aiohttp.ClientSession, url: str, body: dict[str, Any],
                      opened: asyncio.Event, counts: collections.Counter[str],
                      open_now: list[int]) -> None:
    try:
        async with http.post(url, json=body) as response:
            if response.status != 200:
                counts[f"HTTP {response.status} {await _code(response)}"] += 1
                return
            first = await response.content.readuntil(b"\n\n")
            if not first.startswith(b"data: {"):
                counts["bad first event"] += 1
                return
            open_now[0] += 1
            if open_now[0] == open_now[1]:
                opened.set()
            rest = await response.content.read()
            open_now[0] -= 1
            counts["ok" if rest.endswith(b"data: [DONE]\n\n") else "broken stream"] += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        counts[f"client error {type(exc).__name__}"] += 1


def _slow(seconds: int) -> str:
    """A prompt the mock answers with a stream of about one chunk a second for `seconds`."""
    return "!slow 1 " + " ".join(["tick"] * max(seconds - 3, 0))


async def _code(response: aiohttp.ClientResponse) -> str:
    try:
        return (await response.json())["error"]["code"]
    except Exception:
        return ""


async def _drive(base: str, key: str, pid: int, streams: int, seconds: int) -> dict[str, Any]:
    url = f"{base}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=seconds + 120)
    async with aiohttp.ClientSession(connector=connector, headers=headers,
                                     timeout=timeout) as http:
        warm = {"model": "mock-small", "stream": True,
                "messages": [{"role": "user", "content": _slow(1)}]}
        warm_counts: collections.Counter[str] = collections.Counter()
        await asyncio.gather(*(_one_stream(http, url, warm, asyncio.Event(), warm_counts,
                                           [0, -1]) for _ in range(50)))
        baseline = rss_mib(pid)
        body = {**warm, "messages": [{"role": "user", "content": _slow(seconds)}]}
        counts: collections.Counter[str] = collections.Counter()
        opened, open_now = asyncio.Event(), [0, streams]
        started = time.perf_counter()
        tasks = [asyncio.create_task(_one_stream(http, url, body, opened, counts, open_now))
                 for _ in range(streams)]
        # Sampled while the streams are all open (halfway through them), then the peak.
        held, all_open_after, peak = (baseline, 0), None, baseline
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.5)
            now = time.perf_counter() - started
            if opened.is_set() and all_open_after is None:
                all_open_after = now
            peak = max(peak, rss_mib(pid))
            if open_now[0] >= held[1] and now <= seconds * 0.75:
                held = (rss_mib(pid), open_now[0])
        await asyncio.gather(*tasks)
        return {"baseline": baseline, "held_rss": held[0], "held_open": held[1], "peak": peak,
                "counts": counts,
                "warm_errors": sum(v for k, v in warm_counts.items() if k != "ok"),
                "all_open_after": all_open_after, "elapsed": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20, help="how long each stream lasts")
    parser.add_argument("--cap", type=int, help="the provider's max_connections (default N)")
    parser.add_argument("--pool-timeout", type=float, default=5.0)
    args = parser.parse_args()
    cap = args.cap or args.streams
    _raise_fd_limit(args.streams)
    with gateway.bench_stack("parlay-streams-", PARLAY_LOG_LEVEL="warning",
                             PARLAY_UPSTREAM_MAX_CONNECTIONS=str(cap),
                             PARLAY_UPSTREAM_POOL_TIMEOUT=str(args.pool_timeout)) as stack:
        base = f"http://127.0.0.1:{stack.parlay_port}"
        result = asyncio.run(_drive(base, stack.key, stack.pids[0], args.streams, args.seconds))
        _report(args.streams, cap, args.seconds, result)

def _report(streams: int, cap: int, seconds: int, result: dict[str, Any]) -> None:
    counts = result["counts"]
    errors = sum(v for k, v in counts.items() if k != "ok") + result["warm_errors"]
    growth_kib = (result["held_rss"] - result["baseline"]) * 1024
    per_stream = growth_kib / max(result["held_open"], 1)
    opened = result["all_open_after"]
    print(f"\n{streams} concurrent {seconds}-second streams through one Parlay worker "
          f"(provider cap {cap}, {os.cpu_count()} CPUs)")
    print(f"all open after {opened:.1f} s" if opened is not None else "never all open at once")
    print(f"finished in {result['elapsed']:.1f} s: " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"errors: {errors}")
    print(f"RSS: {result['baseline']:.1f} MiB warmed up, {result['held_rss']:.1f} MiB with "
          f"{result['held_open']} streams open: {per_stream:.1f} KiB per open stream "
          f"(peak {result['peak']:.1f} MiB)")
    ok = errors == 0 and per_stream < 100
    print(f"targets (0 errors, < 100 KiB per open stream): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
