"""code_executor backends: bubblewrap on this host, or a SandboxFusion HTTP service.

bubblewrap: every namespace unshared (no network, own PIDs), a read-only /usr and a small
tmpfs /tmp as the whole file system, no capabilities, an empty environment, uid 65534.
A launcher sets the rlimits (address space, CPU seconds, processes, file size, open files)
and then execs the snippet's interpreter. Parlay adds the wall-clock limit and the output
cap, and kills the sandbox when either is reached. When Parlay runs as root the sandbox is
started as the real uid 65534: the kernel does not count processes against RLIMIT_NPROC
for uid 0, so a fork bomb would otherwise be stopped only by the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from parlay.tools.base import ToolFailure, ToolOutput

NOBODY = 65534
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install -y bubblewrap)"

_LAUNCHER = """\
import os, resource, sys
limits = dict(zip(("AS", "CPU", "NPROC", "FSIZE", "NOFILE"), map(int, sys.argv[1:6])))
for name, value in limits.items():
    hard = value + 1 if name == "CPU" else value
    resource.setrlimit(getattr(resource, "RLIMIT_" + name), (value, hard))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.execv(sys.executable, [sys.executable, "-I", "-c", sys.argv[6]])
"""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    memory_bytes: int = 512 * 1024 * 1024
    cpu_seconds: int = 10
    processes: int = 32
    file_bytes: int = 16 * 1024 * 1024
    open_files: int = 64
    output_bytes: int = 1024 * 1024  # stdout + stderr; the run is killed past this
    tmp_bytes: int = 64 * 1024 * 1024
    default_timeout: float = 10.0
    max_timeout: float = 30.0
    returned_chars: int = 16_000  # per stream, in what the model reads
    concurrency: int = 4


@dataclass(frozen=True, slots=True)
class RunResult:
    stdout: str
    stderr: str
    exit_code: int | None
    limit: str | None  # wall_time | cpu_time | memory | output | processes
    duration_ms: int
    backend: str

    def output(self, returned_chars: int) -> ToolOutput:
        stdout, stderr = self.stdout[-returned_chars:], self.stderr[-returned_chars:]
        parts = [f"exit status: {self.exit_code}"]
        if self.limit:
            parts.append(f"stopped by the {self.limit.replace('_', ' ')} limit")
        parts += [f"stdout:\n{stdout}" if stdout else "stdout: (empty)",
                  f"stderr:\n{stderr}" if stderr else "stderr: (empty)"]
        failed = self.exit_code != 0 or self.limit is not None
        return ToolOutput(text="\n".join(parts), is_error=failed, data={
            "stdout": stdout, "stderr": stderr, "exit_code": self.exit_code,
            "limit": self.limit, "duration_ms": self.duration_ms, "backend": self.backend})


class CodeSandbox(Protocol):
    name: str
    limits: SandboxLimits

    async def run(self, code: str, wall_seconds: float) -> RunResult: ...

    async def aclose(self) -> None: ...


def find_python() -> str | None:
    """An interpreter under /usr, the only part of the host the sandbox sees."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class BwrapSandbox:
    name = "bwrap"

    def __init__(self, bwrap: str, python: str, limits: SandboxLimits | None = None,
                 setpriv: str | None = None) -> None:
        self.bwrap = bwrap
        self.python = python
        # As root: start bwrap as the real uid 65534 (util-linux setpriv, as uvloop's
        # subprocess API has no user/group arguments).
        self.setpriv = setpriv
        self.limits = limits or SandboxLimits()
        self._slots = asyncio.Semaphore(self.limits.concurrency)

    @classmethod
    def locate(cls, limits: SandboxLimits | None = None) -> tuple[BwrapSandbox | None, str]:
        """The sandbox, or None and the reason it cannot run here."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            return None, f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
        python = find_python()
        if python is None:
            return None, "no python3 under /usr for the sandbox (apt-get install -y python3)"
        setpriv = None
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                return None, ("Parlay runs as root and setpriv (util-linux) is missing to start "
                              "the sandbox as uid 65534: apt-get install -y util-linux")
        return cls(bwrap, python, limits, setpriv), ""

    async def probe(self) -> str | None:
        """None when a sandbox starts here, else why not (e.g. user namespaces are off)."""
        result = await self.run("pass", wall_seconds=10)
        if result.exit_code == 0:
            return None
        detail = (result.stderr.strip().splitlines() or ["no detail"])[-1]
        return f"bubblewrap cannot create a sandbox here: {detail[:300]}"

    def command(self, code: str) -> list[str]:
        lim = self.limits
        mounts = ["--ro-bind", "/usr", "/usr"]
        for top in ("bin", "lib", "lib64", "sbin"):  # merged-/usr symlinks, or real dirs
            path = Path("/") / top
            if path.is_symlink():
                mounts += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                mounts += ["--ro-bind", str(path), str(path)]
        drop = ([self.setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "--"] if self.setpriv else [])
        return [
            *drop, self.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent",
            "--new-session", "--clearenv", "--cap-drop", "ALL",
            "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox",
            *mounts, "--proc", "/proc", "--dev", "/dev",
            "--size", str(lim.tmp_bytes), "--tmpfs", "/tmp", "--chdir", "/tmp",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--", self.python, "-I", "-S", "-c", _LAUNCHER,
            str(lim.memory_bytes), str(lim.cpu_seconds), str(lim.processes),
            str(lim.file_bytes), str(lim.open_files), code,
        ]

    async def run(self, code: str, wall_seconds: float) -> RunResult:
        async with self._slots:
            return await self._run(code, wall_seconds)

    async def _run(self, code: str, wall_seconds: float) -> RunResult:
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *self.command(code), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)

        def kill() -> None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

        reader = _CappedOutput(self.limits.output_bytes, on_exceeded=kill)
        # The pipes are read to their end whatever happens: asyncio only reports the exit
        # of a process whose pipes are drained, and a killed sandbox closes them at once.
        drains = asyncio.gather(reader.drain(proc.stdout, "stdout"),
                                reader.drain(proc.stderr, "stderr"))
        timed_out = False
        try:
            async with asyncio.timeout(wall_seconds):
                await asyncio.shield(drains)
                await proc.wait()
        except TimeoutError:
            timed_out = True
        finally:
            kill()
            await drains
            await proc.wait()
        stdout, stderr = reader.text("stdout"), reader.text("stderr")
        limit = ("wall_time" if timed_out else "output" if reader.exceeded
                 else _limit_from(proc.returncode, stderr))
        return RunResult(stdout, stderr, proc.returncode, limit,
                         int((time.monotonic() - started) * 1000), self.name)

    async def aclose(self) -> None:
        return None


def _limit_from(exit_code: int | None, stderr: str) -> str | None:
    """Which rlimit stopped the snippet, from how it ended (bwrap exits 128+signal)."""
    if exit_code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        return "cpu_time"
    if exit_code in (128 + signal.SIGKILL, -signal.SIGKILL):
        return "cpu_time"  # the hard CPU limit; Parlay's own kills are named before this
    if exit_code and "MemoryError" in stderr:
        return "memory"
    if exit_code and ("BlockingIOError" in stderr or "Resource temporarily unavailable"
                      in stderr):
        return "processes"
    if exit_code and "File too large" in stderr:
        return "file_size"
    return None


class _CappedOutput:
    """Keeps the first `cap` bytes of stdout + stderr; past that, calls `on_exceeded` (the
    kill) once and reads the rest to the end without keeping it."""

    def __init__(self, cap: int, on_exceeded: Callable[[], None]) -> None:
        self.cap = cap
        self.total = 0
        self.exceeded = False
        self.on_exceeded = on_exceeded
        self.streams: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    async def drain(self, stream: asyncio.StreamReader | None, name: str) -> None:
        assert stream is not None
        while chunk := await stream.read(65536):
            room = self.cap - self.total
            if room > 0:
                self.streams[name] += chunk[:room]
            self.total += len(chunk)
            if self.total > self.cap and not self.exceeded:
                self.exceeded = True
                self.on_exceeded()

    def text(self, name: str) -> str:
        return self.streams[name].decode("utf-8", errors="replace")


class SandboxFusion:
    """A SandboxFusion-compatible service: POST {url}/run_code."""

    name = "sandboxfusion"

    def __init__(self, base_url: str, limits: SandboxLimits | None = None) -> None:
        self.url = base_url.rstrip("/") + "/run_code"
        self.limits = limits or SandboxLimits()
        self._session: aiohttp.ClientSession | None = None

    async def run(self, code: str, wall_seconds: float) -> RunResult:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        started = time.monotonic()
        payload = {"code": code, "language": "python", "run_timeout": wall_seconds}
        try:
            async with self._session.post(
                    self.url, json=payload,
                    timeout=aiohttp.ClientTimeout(total=wall_seconds + 15)) as response:
                if response.status >= 400:
                    raise ToolFailure("sandbox_failed",
                                      f"the sandbox service answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except TimeoutError:
            raise ToolFailure("sandbox_failed", "the sandbox service did not answer") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise ToolFailure("sandbox_failed",
                              f"the sandbox service failed: {type(exc).__name__}") from None
        if not isinstance(body, dict) or body.get("status") == "SandboxError":
            message = body.get("message") if isinstance(body, dict) else None
            raise ToolFailure("sandbox_failed", f"the sandbox service failed: {message}")
        run = body.get("run_result") or {}
        limit = {"TimeLimitExceeded": "wall_time"}.get(str(run.get("status")))
        return RunResult(str(run.get("stdout") or ""), str(run.get("stderr") or ""),
                         run.get("return_code"), limit,
                         int((time.monotonic() - started) * 1000), self.name)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def sandbox_from_spec(spec: str, limits: SandboxLimits | None = None
                            ) -> tuple[CodeSandbox | None, str]:
    """PARLAY_CODE_EXECUTOR (bwrap | sandboxfusion:<url> | off) -> backend or reason."""
    spec = spec.strip()
    if spec == "off":
        return None, "code execution is turned off (PARLAY_CODE_EXECUTOR=off)"
    if spec.startswith("sandboxfusion:"):
        return SandboxFusion(spec.split(":", 1)[1], limits), ""
    sandbox, reason = BwrapSandbox.locate(limits)
    if sandbox is None:
        return None, reason
    problem = await sandbox.probe()
    return (None, problem) if problem else (sandbox, "")
