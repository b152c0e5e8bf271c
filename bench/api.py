"""API read path: the hot conversation/settings/auth routes beside /healthz, one worker.

    .venv/bin/python bench/api.py [--rounds 3] [--backends sqlite,postgres] [--no-workers]

For each backend (SQLite in a temp dir, then a throwaway PostgreSQL database) starts
`parlay serve` (one uvicorn worker, `info` logging, JWT auth, rate limiting on with high
limits), seeds one user (settings row, 30 conversations, one of 50 items), checks every
endpoint answers what it should, then drives each with wrk (one wrk thread, keep-alive):
p50/p99 at concurrency 1, and requests/s at concurrency 32 in 1 s slices that take turns
with `/healthz` slices on the same server, so the ratio holds on a box that is busy with
other work. Server CPU per request comes from /proc. Last, on PostgreSQL, the items page
through `parlay serve --workers 2` and through the one worker, in turns.

Targets (issue 15): reads p50 <= 1.5 ms at c=1 and >= 0.4x healthz at c=32; the write (a
message stored without a reply) >= 0.25x healthz at c=32 on PostgreSQL; 0 errors;
2 workers >= 1.6x one worker on the items page where cores allow (wrk shares the box's
cores with the server and PostgreSQL, which this prints).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import _free_port, _wait_http, stop_processes  # bench/gateway.py

PG_DSN = os.environ.get("PARLAY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_P50_MS, TARGET_READ_RATIO, TARGET_WRITE_RATIO, TARGET_WORKERS = 1.5, 0.4, 0.25, 1.6
WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "errors": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Endpoint:
    name: str
    path: str
    method: str = "GET"
    body: dict[str, Any] | None = None
    write: bool = False
    spread: list[str] = field(default_factory=list)  # paths taken in turn, when given


@dataclass
class Result:
    p50: float = 0.0      # ms at c=1
    p99: float = 0.0      # ms at c=1
    rps: float = 0.0      # at c=32
    cpu_us: float = 0.0   # server CPU per request at c=32
    errors: int = 0
    extra: dict[str, float] = field(default_factory=dict)


# -- the server and its data -----------------------------------------------------------------

def _request(base: str, method: str, path: str, token: str | None = None,
             body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def seed(base: str) -> tuple[str, list[Endpoint]]:
    """One user with a settings row, 30 conversations (one of 50 items), 32 more to append
    to; the endpoints."""
    token = _request(base, "POST", "/llm/auth/guest-login")[1]["access_token"]
    _request(base, "PATCH", "/v1/users/me/settings", token,
             {"profile_settings": {"nick_name": "Bench"}, "preferences": {"theme": "dark"}})
    items = [{"role": "user" if n % 2 == 0 else "assistant",
              "content": f"message {n}: " + "some words of a typical chat message " * 4}
             for n in range(50)]
    conversation = _request(base, "POST", "/v1/conversations", token,
                            {"title": "bench", "items": items})[1]["data"]["id"]
    for n in range(29):
        _request(base, "POST", "/v1/conversations", token, {"title": f"other {n}"})
    appends = [_request(base, "POST", "/v1/conversations", token, {"title": f"appends {n}"})
               [1]["data"]["id"] for n in range(32)]
    message = {"role": "user", "content": "hello there", "generate": False}
    item = _request(base, "GET", f"/v1/conversations/{conversation}/items?limit=1", token)
    item_id = item[1]["data"][0]["id"]
    conv = f"/v1/conversations/{conversation}"
    return token, [
        Endpoint("GET items?limit=20", f"{conv}/items?limit=20"),
        Endpoint("GET conversations?limit=20", "/v1/conversations?limit=20"),
        Endpoint("GET conversation (20 items)", f"{conv}?items_limit=20"),
        Endpoint("GET item", f"{conv}/items/{item_id}"),
        Endpoint("GET settings", "/v1/users/me/settings"),
        Endpoint("GET auth/me", "/llm/auth/me"),
        # Chat users append to their own conversations: 32 of them, taken in turn.
        Endpoint("POST item (no reply)", f"/v1/conversations/{appends[0]}/items", "POST",
                 message, write=True, spread=[f"/v1/conversations/{a}/items" for a in appends]),
        # All 32 connections appending to one conversation wait for its row lock in turn.
        Endpoint("  same, one conversation", f"/v1/conversations/{appends[0]}/items", "POST",
                 message),
    ]


def check(base: str, token: str, endpoint: Endpoint) -> None:
    """The endpoint answers what it should before it is timed."""
    status, body = _request(base, endpoint.method, endpoint.path, token, endpoint.body)
    assert status in (200, 201), (endpoint.name, status, body)
    if "items?limit=20" in endpoint.path or "conversations?limit=20" in endpoint.path:
        assert len(body["data"]) == 20 and body["has_more"], (endpoint.name, body)
    if "items_limit=20" in endpoint.path:
        assert len(body["data"]["items"]) == 20, endpoint.name


def start_server(database_url: str, workers: int, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PARLAY_DATABASE_URL": database_url, "PARLAY_LOCAL_MODEL": "off",
           "PARLAY_LOG_LEVEL": "info", "PARLAY_WORKERS": str(workers),
           "PARLAY_JWT_SECRET": secrets.token_urlsafe(32),
           "PARLAY_SECRET_KEY": secrets.token_urlsafe(32),
           # High limits: the limiter's cost is measured, its refusals are not.
           "PARLAY_RATE_LIMITS": "auth=100000/min,chat=100000000/min,api=100000000/min"}
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "PARLAY_REDIS_URL", "PARLAY_ADMIN_API_KEY"):
        env.pop(var, None)
    logs = open(tmp / f"parlay-{port}.log", "w")  # noqa: SIM115 - the process keeps it
    process = subprocess.Popen(
        [sys.executable, "-c", "from parlay.cli import main; main()", "serve", "--port",
         str(port), "--workers", str(workers)], cwd=tmp, env=env, stdout=logs, stderr=logs)
    base = f"http://127.0.0.1:{port}"
    _wait_http(base + "/healthz")
    return process, base


# -- measuring -------------------------------------------------------------------------------

def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (uvicorn's workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        pending += [int(child) for child in children]
    return total


def wrk(base: str, token: str, endpoint: Endpoint, concurrency: int, seconds: float,
        tmp: Path) -> dict[str, float]:
    script = tmp / "wrk.lua"
    lines = [f'wrk.method = "{endpoint.method}"',
             f'wrk.headers["Authorization"] = "Bearer {token}"']
    if endpoint.body is not None:
        lines += ['wrk.headers["Content-Type"] = "application/json"',
                  f"wrk.body = {json.dumps(json.dumps(endpoint.body))}"]
    if endpoint.spread:
        paths = ", ".join(json.dumps(p) for p in endpoint.spread)
        lines += [f"local paths = {{{paths}}}", "local n = 0",
                  "request = function()", "  n = n + 1",
                  "  return wrk.format(nil, paths[(n % #paths) + 1])", "end"]
    script.write_text("\n".join(lines) + WRK_DONE)
    completed = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", "-s", str(script),
         base + endpoint.path], capture_output=True, text=True, check=True)
    line = next(x for x in completed.stdout.splitlines() if x.startswith("WRKJSON "))
    out = json.loads(line.removeprefix("WRKJSON "))
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    return out


def measure(base: str, token: str, endpoint: Endpoint, pid: int, args: argparse.Namespace,
            tmp: Path) -> Result:
    """p50/p99 at c=1; at c=32, slices of 1 s taking turns with /healthz slices, so a change
    in what else the box runs hits both sides of the ratio alike."""
    wrk(base, token, endpoint, 8, 1, tmp)  # warm-up
    single = wrk(base, token, endpoint, 1, args.c1_seconds, tmp)
    served = rps = health = cpu = errors = 0.0
    for _ in range(args.rounds):
        health += wrk(base, token, HEALTHZ, 32, 1, tmp)["rps"]
        cpu_before = _tree_cpu(pid)
        loaded = wrk(base, token, endpoint, 32, 1, tmp)
        cpu += _tree_cpu(pid) - cpu_before
        served += loaded["requests"]
        rps += loaded["rps"]
        errors += loaded["errors"]
    return Result(p50=single["p50_us"] / 1000, p99=single["p99_us"] / 1000,
                  rps=rps / args.rounds,
                  cpu_us=1e6 * cpu / max(served, 1), errors=int(single["errors"] + errors),
                  extra={"healthz": health / args.rounds})


HEALTHZ = Endpoint("/healthz", "/healthz")


def run_backend(name: str, database_url: str, args: argparse.Namespace, tmp: Path,
                ) -> None:
    process, base = start_server(database_url, 1, tmp)
    try:
        token, endpoints = seed(base)
        for endpoint in endpoints:
            check(base, token, endpoint)
        healthz = measure(base, token, HEALTHZ, process.pid, args, tmp)
        results = {e.name: measure(base, token, e, process.pid, args, tmp) for e in endpoints}
        report(name, healthz, results, endpoints)
        if name == "PostgreSQL" and not args.no_workers:
            run_workers(database_url, base, token, endpoints[0], process.pid, args, tmp)
    finally:
        stop_processes(process)


def run_workers(database_url: str, one_base: str, one_token: str, items: Endpoint, one_pid: int,
                args: argparse.Namespace, tmp: Path) -> None:
    """The items page through `--workers 2` and through one worker, both up at once and
    driven in turns (1 s slices) on the same database.

    The write rows above added tens of thousands of items to a table PostgreSQL has not
    analysed yet; until autovacuum does (within a minute or so), the page runs on a plan
    made for an almost empty table and is 3-4x slower, so the database is analysed first:
    both servers then read with the same, current statistics."""
    asyncio.run(_analyze(database_url))
    process, base = start_server(database_url, 2, tmp)
    try:
        token, endpoints = seed(base)
        two_items = endpoints[0]
        wrk(base, token, two_items, 32, 2, tmp)  # both workers warm
        one = two = served = cpu = errors = one_cpu = one_served = 0.0
        for _ in range(args.rounds):
            cpu_before = _tree_cpu(one_pid)
            alone = wrk(one_base, one_token, items, 32, 1, tmp)
            one_cpu += _tree_cpu(one_pid) - cpu_before
            one += alone["rps"]
            one_served += alone["requests"]
            cpu_before = _tree_cpu(process.pid)
            loaded = wrk(base, token, two_items, 32, 1, tmp)
            cpu += _tree_cpu(process.pid) - cpu_before
            two += loaded["rps"]
            served += loaded["requests"]
            errors += loaded["errors"]
    finally:
        stop_processes(process)
    ratio = two / one
    verdict = "met" if ratio >= TARGET_WORKERS else "NOT met"
    # Cores the server used while loaded (1 s slices): one worker can use at most one.
    one_cores, two_cores = one_cpu / args.rounds, cpu / args.rounds
    print(f"\n--workers 2, {items.name} @c=32: {two / args.rounds:.0f} rps vs "
          f"{one / args.rounds:.0f} with one worker = {ratio:.2f}x (target {TARGET_WORKERS}x: "
          f"{verdict}); errors {errors:.0f}; server CPU {1e6 * cpu / max(served, 1):.0f} vs "
          f"{1e6 * one_cpu / max(one_served, 1):.0f} us/req; cores used by the server "
          f"{two_cores:.2f} vs {one_cores:.2f}.\n"
          f"  {os.cpu_count()} CPUs shared by the workers, wrk and PostgreSQL: two workers "
          f"can only use what the client and the database leave them.")


async def _analyze(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def report(backend: str, healthz: Result, results: dict[str, Result],
           endpoints: list[Endpoint]) -> None:
    print(f"\n{backend}: one worker; RPS @c=32 in 1 s slices taking turns with /healthz "
          f"slices (x healthz: the ratio to those; by CPU: /healthz's server CPU per request "
          f"over the endpoint's, which a busy box disturbs least)")
    header = (f"{'endpoint':<30} {'p50 @c=1':>9} {'p99 @c=1':>9} {'RPS @c=32':>10} "
              f"{'healthz':>8} {'x healthz':>10} {'by CPU':>7} {'cpu/req':>9} {'errors':>7}"
              f"  target")
    print(header)
    print("-" * len(header))
    for endpoint, r in [(HEALTHZ, healthz), *((e, results[e.name]) for e in endpoints)]:
        ratio = r.rps / r.extra["healthz"]
        if endpoint is HEALTHZ:
            ok, goal = True, "no target: the framework's floor"
        elif endpoint.write:
            ok = ratio >= TARGET_WRITE_RATIO or backend != "PostgreSQL"
            goal = f">= {TARGET_WRITE_RATIO}x on PostgreSQL"
        elif endpoint.method != "GET":
            ok, goal = True, "no target: its positions stay exact (tests)"
        else:
            ok = r.p50 <= TARGET_P50_MS and ratio >= TARGET_READ_RATIO
            goal = f"p50 <= {TARGET_P50_MS} ms, >= {TARGET_READ_RATIO}x"
        verdict = "met" if ok and r.errors == 0 else "MISSED"
        verdict = "-" if goal.startswith("no target") and r.errors == 0 else verdict
        by_cpu = healthz.cpu_us / max(r.cpu_us, 1e-9)
        print(f"{endpoint.name:<30} {r.p50:>6.2f} ms {r.p99:>6.2f} ms {r.rps:>10.0f} "
              f"{r.extra['healthz']:>8.0f} {ratio:>9.2f}x {by_cpu:>6.2f}x {r.cpu_us:>6.0f} us "
              f"{r.errors:>7}  {verdict} ({goal})")


async def _create_database() -> tuple[str, str]:
    name = f"parlay_bench_api_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, PG_DSN.rsplit("/", 1)[0] + "/" + name


async def _drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="1 s slices at c=32 per endpoint (each beside a /healthz slice)")
    parser.add_argument("--c1-seconds", type=int, default=3, help="seconds at c=1")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--no-workers", action="store_true", help="skip the 2-worker run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py drives the server with wrk: apt-get install -y wrk")
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          "at the start (above ~0.5 the box is shared and absolute figures are noisy)")
    tmp = Path(tempfile.mkdtemp(prefix="parlay-bench-api-"))
    started = time.monotonic()
    backends = args.backends.split(",")
    if "sqlite" in backends:
        run_backend("SQLite", f"sqlite:///{tmp}/parlay.db", args, tmp)
    if "postgres" in backends:
        name, url = asyncio.run(_create_database())
        try:
            run_backend("PostgreSQL", url, args, tmp)
        finally:
            asyncio.run(_drop_database(name))
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; "
          f"took {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
