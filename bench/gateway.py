"""Gateway overhead: Parlay in front of a loopback mock upstream vs. the mock called directly.

    .venv/bin/python bench/gateway.py [--duration 5] [--requests 2000]

Starts the mock upstream and Parlay (one uvicorn worker, SQLite in a temp dir) as separate
processes, then a load generator in a third process (uvloop, raw HTTP/1.1 keep-alive
connections parsed with httptools, so the generator costs as little CPU as possible). Each
scenario runs against the mock directly and through Parlay; the table shows Parlay's added
latency and its throughput as a ratio of the direct one. CPU columns are the processes' own
CPU time per request (from /proc), which shows where the cores went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHAT_BODY = {"model": "mock-small", "temperature": 0.7, "max_tokens": 150,
             "messages": [{"role": "user", "content": "Explain quantum computing briefly."}]}
TARGETS = {"added_p50_ms_c1": 1.0, "rps_c32": 1200}


# -- load generator (runs in its own process) -------------------------------------------------

class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        import httptools

        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.first_byte: float = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except Exception as exc:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_exception(exc)

    def on_body(self, body: bytes) -> None:
        if not self._body:
            self.first_byte = time.perf_counter()
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed"))

    def request(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        self._body = []
        self._waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(raw)
        return self._waiter


def _raw_request(host: str, port: int, path: str, body: dict[str, Any], key: str) -> bytes:
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


def _ok(status: int, body: bytes, stream: bool) -> bool:
    if status != 200:
        return False
    return body.endswith(b"data: [DONE]\n\n") if stream else b'"chat.completion"' in body


async def _drive(config: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stream = config["stream"]
    body = {**CHAT_BODY, "stream": True} if stream else CHAT_BODY
    raw = _raw_request("127.0.0.1", config["port"], "/v1/chat/completions", body, config["key"])
    connections = [(await loop.create_connection(Connection, "127.0.0.1", config["port"]))[1]
                   for _ in range(config["concurrency"])]
    latencies: list[float] = []
    first_bytes: list[float] = []
    errors = 0

    async def worker(conn: Connection, until: float, count: int) -> None:
        nonlocal errors
        done = 0
        while done < count and time.perf_counter() < until:
            started = time.perf_counter()
            try:
                status, payload = await conn.request(raw)
            except Exception:
                errors += 1
                return
            ended = time.perf_counter()
            done += 1
            if not _ok(status, payload, stream):
                errors += 1
                continue
            latencies.append(ended - started)
            first_bytes.append(conn.first_byte - started)

    warm_until = time.perf_counter() + 30
    await asyncio.gather(*(worker(c, warm_until, config["warmup"]) for c in connections))
    latencies.clear()
    first_bytes.clear()
    errors = 0
    usage_before = os.times()
    started = time.perf_counter()
    until = started + config["duration"] if config["duration"] else float("inf")
    per_worker = config["requests"] or 10**12
    await asyncio.gather(*(worker(c, until, per_worker) for c in connections))
    elapsed = time.perf_counter() - started
    usage_after = os.times()
    for conn in connections:
        assert conn.transport is not None
        conn.transport.close()
    cpu = (usage_after.user - usage_before.user) + (usage_after.system - usage_before.system)
    return {"latencies": latencies, "first_bytes": first_bytes, "errors": errors,
            "elapsed": elapsed, "loadgen_cpu": cpu}


def loadgen_main(config_json: str) -> None:
    import uvloop

    emit(uvloop.run(_drive(json.loads(config_json))))


def emit(result: dict[str, Any]) -> None:
    """A load generator's result, as one JSON line on stdout."""
    # Not print(): with PYTHONUNBUFFERED a partial write to the pipe drops the rest of the line.
    out = memoryview(json.dumps(result).encode() + b"\n")
    while out:
        out = out[os.write(sys.stdout.fileno(), out):]


# -- orchestration ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


def _post(url: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_load(port: int, key: str, pids: list[int], **config: Any) -> dict[str, Any]:
    cpu_before = [_cpu_seconds(p) for p in pids]
    completed = subprocess.run(
        [sys.executable, __file__, "--loadgen", json.dumps({"port": port, "key": key, **config})],
        capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout)
    result["server_cpu"] = [_cpu_seconds(p) - b for p, b in zip(pids, cpu_before, strict=True)]
    return result


def _summary(result: dict[str, Any]) -> dict[str, float]:
    latencies = sorted(result["latencies"]) or [float("nan")]
    first = sorted(result["first_bytes"]) or [float("nan")]
    count = len(result["latencies"])

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    return {"n": count, "errors": result["errors"], "rps": count / result["elapsed"],
            "p50": statistics.median(latencies) * 1000, "p99": pct(latencies, 0.99),
            "ttfb50": statistics.median(first) * 1000, "ttfb99": pct(first, 0.99),
            "loadgen_cpu_pct": 100 * result["loadgen_cpu"] / result["elapsed"],
            "cpu_us": [1e6 * c / max(count, 1) for c in result["server_cpu"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per timed run")
    parser.add_argument("--requests", type=int, default=2000, help="requests at concurrency 1")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(args.loadgen)
        return

    with bench_stack("parlay-bench-") as stack:
        mock_port, parlay_port, key = stack.mock_port, stack.parlay_port, stack.key
        pids = stack.pids
        scenarios = [
            ("non-stream c=1", dict(concurrency=1, stream=False, warmup=300, duration=0,
                                    requests=args.requests)),
            ("non-stream c=32", dict(concurrency=32, stream=False, warmup=30,
                                     duration=args.duration, requests=0)),
            ("stream c=200", dict(concurrency=200, stream=True, warmup=3,
                                  duration=args.duration, requests=0)),
        ]
        rows = []
        for name, config in scenarios:
            direct = _summary(_run_load(mock_port, key, pids, **config))
            through = _summary(_run_load(parlay_port, key, pids, **config))
            rows.append((name, direct, through))
        _report(rows)


@dataclass(frozen=True)
class Stack:
    mock_port: int
    parlay_port: int
    key: str  # an API key of a fresh user
    pids: list[int]  # Parlay's, the mock's


@contextlib.contextmanager
def bench_stack(prefix: str, **settings: str) -> Iterator[Stack]:
    """The mock upstream and Parlay (one uvicorn worker, SQLite in a temp dir, `info` logs,
    rate limits high enough never to refuse) as processes, and an API key to call it with.
    `settings` add or override Parlay's environment."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    mock_port, parlay_port = _free_port(), _free_port()
    env = {**os.environ, "PARLAY_DATABASE_URL": f"sqlite:///{tmp}/parlay.db",
           "OPENAI_BASE_URL": f"http://127.0.0.1:{mock_port}/v1", "PARLAY_LOCAL_MODEL": "off",
           "PARLAY_ADMIN_API_KEY": "bench-admin-" + secrets.token_hex(8),
           "PARLAY_LOG_LEVEL": "info", "PARLAY_WORKERS": "1",
           "PARLAY_JWT_SECRET": secrets.token_urlsafe(32),
           "PARLAY_SECRET_KEY": secrets.token_urlsafe(32),
           # High limits: the limiter's cost is measured, its refusals are not.
           "PARLAY_RATE_LIMITS": "auth=1000/min,chat=100000000/min,api=100000000/min",
           **settings}
    env.pop("OPENAI_API_KEY", None)
    logs = open(tmp / "parlay.log", "w")  # noqa: SIM115 - closed at the end
    mock = subprocess.Popen([sys.executable, str(ROOT / "tests/support/mock_upstream.py"),
                             "--port", str(mock_port)], cwd=ROOT)
    parlay = subprocess.Popen([sys.executable, "-c", "from parlay.cli import main; main()",
                               "serve", "--port", str(parlay_port)],
                              cwd=tmp, env=env, stdout=logs, stderr=logs)
    try:
        _wait_http(f"http://127.0.0.1:{mock_port}/v1/models")
        _wait_http(f"http://127.0.0.1:{parlay_port}/healthz")
        token = _post(f"http://127.0.0.1:{parlay_port}/llm/auth/guest-login", {})["access_token"]
        key = _post(f"http://127.0.0.1:{parlay_port}/llm/auth/api-keys",
                    {"Authorization": f"Bearer {token}"}, {"name": "bench"})["data"]["key"]
        yield Stack(mock_port, parlay_port, key, [parlay.pid, mock.pid])
    finally:
        stop_processes(parlay, mock)
        logs.close()


def stop_processes(*processes: subprocess.Popen) -> None:
    """SIGINT (a graceful shutdown), then SIGKILL for any that is still up after 15 s."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _report(rows: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    print(f"\nParlay gateway overhead ({os.cpu_count()} CPUs, 1 uvicorn worker, SQLite)\n")
    header = (f"{'scenario':<16} {'path':<7} {'req':>7} {'err':>4} {'rps':>8} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'ttfb50':>7} {'parlay cpu/req':>15} {'mock cpu/req':>13} "
              f"{'loadgen cpu':>11}")
    print(header)
    print("-" * len(header))
    for name, direct, through in rows:
        for label, s in (("direct", direct), ("parlay", through)):
            parlay_cpu = f"{s['cpu_us'][0]:.0f} us" if label == "parlay" else "-"
            print(f"{name:<16} {label:<7} {s['n']:>7} {s['errors']:>4} {s['rps']:>8.0f} "
                  f"{s['p50']:>8.3f} {s['p99']:>8.3f} {s['ttfb50']:>7.3f} {parlay_cpu:>15} "
                  f"{s['cpu_us'][1]:>10.0f} us {s['loadgen_cpu_pct']:>10.0f}%")
    print()
    verdicts = []
    for name, direct, through in rows:
        added50, added99 = through["p50"] - direct["p50"], through["p99"] - direct["p99"]
        ratio = through["rps"] / direct["rps"]
        print(f"{name:<16} added p50 {added50:+.3f} ms, added p99 {added99:+.3f} ms, "
              f"rps {through['rps']:.0f} = {ratio:.2f}x direct, errors {through['errors']}")
        verdicts.append(through["errors"] == 0)
        if name == "non-stream c=1":
            verdicts.append(added50 <= TARGETS["added_p50_ms_c1"])
        if name == "non-stream c=32":
            verdicts.append(through["rps"] >= TARGETS["rps_c32"])
    print(f"\ntargets (added p50 <= {TARGETS['added_p50_ms_c1']} ms at c=1, >= "
          f"{TARGETS['rps_c32']} rps at c=32, 0 errors): "
          f"{'met' if all(verdicts) else 'NOT met'}")


if __name__ == "__main__":
    main()
