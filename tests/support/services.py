"""The PostgreSQL and Redis a test session talks to: the configured ones (`PARLAY_TEST_PG`,
`PARLAY_TEST_REDIS`) when something answers there, else private ones started for the session
in a temporary directory on a free port, and removed at its end. A missing server program is
a failure naming it, never a skip."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from support.private_pg import PrivatePostgres

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class PrivateServer(Protocol):
    port: int
    dir: Path
    url: str

    def destroy(self) -> None: ...


def answers(url: str, default_port: int) -> bool:
    """Whether anything accepts TCP connections where `url` points."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1",
                                       parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def private_postgres() -> PrivatePostgres:
    server = PrivatePostgres(max_connections=300).init()
    try:
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


class PrivateRedis:
    """`redis-server` on a free loopback port, persisting nothing."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin")
        if binary is None:
            raise RuntimeError("redis-server is not installed: the tests need it to run a "
                               "private Redis (apt-get install redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="parlay-redis-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = open(self.dir / "log", "w")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.destroy()
        raise RuntimeError(f"redis-server did not start: {(self.dir / 'log').read_text()[-1000:]}")

    def destroy(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
