"""code_executor: the bubblewrap sandbox stops what untrusted code tries, and the
SandboxFusion backend speaks that service's protocol. bubblewrap must be installed here
(.ci/run installs it): a missing one fails these tests with the reason, never skips them."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import AsyncIterator

import pytest

from parlay.tools.base import ToolFailure
from parlay.tools.sandbox import BwrapSandbox, SandboxFusion, SandboxLimits, sandbox_from_spec
from support.tool_servers import sandbox_fusion, serving


@pytest.fixture(scope="module")
async def sandbox() -> BwrapSandbox:
    backend, reason = await sandbox_from_spec("bwrap", SandboxLimits(cpu_seconds=3))
    assert isinstance(backend, BwrapSandbox), f"the bwrap sandbox cannot run here: {reason}"
    return backend


async def test_runs_code_as_nobody_without_host_files(sandbox: BwrapSandbox) -> None:
    result = await sandbox.run("import os\nprint(6 * 7, os.getuid(), sorted(os.listdir('/')))",
                               wall_seconds=10)
    assert result.exit_code == 0 and result.limit is None, result
    answer, uid, top = result.stdout.split(" ", 2)
    assert answer == "42" and uid == "65534"
    assert "etc" not in top and "home" not in top and "root" not in top


async def test_endless_loop_is_stopped(sandbox: BwrapSandbox) -> None:
    started = time.monotonic()
    cpu = await sandbox.run("while True:\n    pass", wall_seconds=20)
    wall = await sandbox.run("import time\ntime.sleep(60)", wall_seconds=1)
    closed = await sandbox.run("import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)",
                               wall_seconds=1)
    assert cpu.limit == "cpu_time" and cpu.exit_code != 0, cpu
    assert wall.limit == "wall_time" and closed.limit == "wall_time", (wall, closed)
    assert time.monotonic() - started < 15


async def test_8gb_allocation_is_refused(sandbox: BwrapSandbox) -> None:
    result = await sandbox.run("x = bytearray(8 * 1024 ** 3)\nprint('allocated')",
                               wall_seconds=10)
    assert result.limit == "memory" and "allocated" not in result.stdout, result


async def test_fork_bomb_is_contained(sandbox: BwrapSandbox) -> None:
    code = "import os\nwhile True:\n    os.fork()"
    result = await sandbox.run(code, wall_seconds=10)
    assert result.limit == "processes", result
    after = await sandbox.run("print('still fine')", wall_seconds=10)
    assert after.stdout == "still fine\n"


async def test_50mb_print_is_cut_off(sandbox: BwrapSandbox) -> None:
    started = time.monotonic()
    result = await sandbox.run("import sys\nsys.stdout.write('x' * 50_000_000)",
                               wall_seconds=10)
    assert result.limit == "output", result
    assert len(result.stdout) <= sandbox.limits.output_bytes
    assert time.monotonic() - started < 5


async def test_no_network(sandbox: BwrapSandbox) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        code = (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), "
                "timeout=3)\nprint('connected')")
        local = await sandbox.run(code, wall_seconds=10)
        outside = await sandbox.run(
            "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)\n"
            "print('connected')", wall_seconds=10)
    finally:
        listener.close()
    for result in (local, outside):
        assert result.exit_code != 0 and "connected" not in result.stdout, result
        assert "Connection refused" in result.stderr or "unreachable" in result.stderr


async def test_host_files_are_invisible(sandbox: BwrapSandbox) -> None:
    result = await sandbox.run("print(open('/etc/passwd').read())", wall_seconds=10)
    assert result.exit_code != 0 and "root:" not in result.stdout
    assert "FileNotFoundError" in result.stderr
    write = await sandbox.run("open('/usr/evil', 'w').write('x')", wall_seconds=10)
    assert write.exit_code != 0 and "Read-only file system" in write.stderr


async def test_print_latency(sandbox: BwrapSandbox) -> None:
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        result = await sandbox.run("print(1)", wall_seconds=10)
        timings.append(time.perf_counter() - started)
        assert result.stdout == "1\n"
    p50 = statistics.median(timings)
    print(f"sandbox print(1): p50 {p50 * 1000:.1f} ms")
    assert p50 < 1.0


async def test_concurrent_runs_are_isolated(sandbox: BwrapSandbox) -> None:
    writes = [sandbox.run(f"open('/tmp/f', 'w').write('{n}')\n"
                          "import time; time.sleep(0.2)\nprint(open('/tmp/f').read())",
                          wall_seconds=10) for n in range(4)]
    results = await asyncio.gather(*writes)
    assert [r.stdout for r in results] == [f"{n}\n" for n in range(4)]


async def test_off_and_missing_bwrap_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    off, reason = await sandbox_from_spec("off")
    assert off is None and "PARLAY_CODE_EXECUTOR=off" in reason
    monkeypatch.setenv("PATH", "/nonexistent")  # a host without bubblewrap
    missing, hint = await sandbox_from_spec("bwrap")
    assert missing is None and "apt-get install -y bubblewrap" in hint


@pytest.fixture
async def fusion() -> AsyncIterator[SandboxFusion]:
    async with serving(sandbox_fusion()) as url:
        backend, _ = await sandbox_from_spec(f"sandboxfusion:{url}")
        assert isinstance(backend, SandboxFusion)
        yield backend
        await backend.aclose()


async def test_sandboxfusion_backend(fusion: SandboxFusion) -> None:
    ok = await fusion.run("print(6 * 7)", wall_seconds=5)
    slow = await fusion.run("while True: pass", wall_seconds=1)
    assert (ok.stdout, ok.exit_code, ok.limit, ok.backend) == ("42\n", 0, None, "sandboxfusion")
    assert slow.limit == "wall_time"
    down = SandboxFusion("http://127.0.0.1:9")
    try:
        with pytest.raises(ToolFailure) as failed:
            await down.run("print(1)", wall_seconds=1)
    finally:
        await down.aclose()
    assert failed.value.code == "sandbox_failed"
