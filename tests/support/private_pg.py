"""A private PostgreSQL server in a temporary directory, on a free loopback port: for a test
session on a machine where none is running, and for fault tests that stop and restart it
without disturbing anyone else's. Works as root (the server runs as the `postgres` user, or
`nobody` when there is none: PostgreSQL refuses to run as root) and as any other user."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

# Durability is not what a test server is for; fsync off saves seconds per test on slow disks.
_OPTIONS = "-c fsync=off -c listen_addresses=127.0.0.1"


def server_binary(name: str) -> str:
    """A PostgreSQL server program (initdb, pg_ctl): Debian's versioned directory or PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: the tests need the server "
                           "programs to run a private PostgreSQL (apt-get install postgresql)")
    return path


def _version(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


def _server_user() -> str | None:
    """Who runs the server: the current user, or (as root) an unprivileged one."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, and no `postgres` or `nobody` user to run PostgreSQL")


class PrivatePostgres:
    def __init__(self, max_connections: int = 50) -> None:
        self._user = _server_user()
        # Another user must reach the directory: not under a root-only $TMPDIR then.
        where = "/tmp" if self._user is not None else None
        self.dir = Path(tempfile.mkdtemp(prefix="parlay-pg-", dir=where))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._max_connections = max_connections
        if self._user is not None:
            shutil.chown(self.dir, self._user)

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", self._user, "--", *args] if self._user else list(args)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.dir / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): "
                               f"{result.stderr.strip()[-2000:]}\n{tail}")

    def init(self) -> PrivatePostgres:
        self._run(server_binary("initdb"), "-D", str(self.dir / "data"), "-A", "trust",
                  "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} {_OPTIONS} "
                   f"-c max_connections={self._max_connections}")
        self._run(server_binary("pg_ctl"), "-D", str(self.dir / "data"), "-o", options,
                  "-l", str(self.dir / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(server_binary("pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w",
                  "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
