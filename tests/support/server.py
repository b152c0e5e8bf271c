"""Run `parlay serve` as a real process on a free loopback port (multi-worker, crash tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ParlayProcess:
    def __init__(self, env: dict[str, str], *, workers: int = 1, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PARLAY_LOCAL_MODEL": "off", "PARLAY_RATE_LIMITS": "off",
                    "PARLAY_LOG_LEVEL": "warning", "PARLAY_JWT_SECRET": "j" * 40, **env}
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> ParlayProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parlay.cli", "serve", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=self.env, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"parlay exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError("parlay did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, no flushing."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
