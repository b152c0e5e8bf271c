"""`make test` needs no PostgreSQL or Redis running: when nothing answers at PARLAY_TEST_PG /
PARLAY_TEST_REDIS, the session starts private ones and removes them at its end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support.server import free_port
from support.services import answers

ROOT = Path(__file__).resolve().parent.parent


def test_a_session_without_services_starts_and_removes_private_ones() -> None:
    dead_pg, dead_redis = free_port(), free_port()
    env = {**os.environ,
           "PARLAY_TEST_PG": f"postgresql://postgres@127.0.0.1:{dead_pg}/postgres",
           "PARLAY_TEST_REDIS": f"redis://127.0.0.1:{dead_redis}/0"}
    # A PostgreSQL-backed test, and one that needs Redis.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--db", "postgres",
         "tests/test_auth_bus.py", "tests/test_conversations.py::test_create_get_update_delete"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert re.search(r"2 passed", output), output[-2000:]
    pg = re.search(r"private PostgreSQL on port (\d+) in (\S+) \(nothing answered at "
                   rf"postgresql://postgres@127.0.0.1:{dead_pg}/postgres\), removed", output)
    redis = re.search(r"private Redis on port (\d+) in (\S+) \(nothing answered at "
                      rf"redis://127.0.0.1:{dead_redis}/0\), removed", output)
    assert pg and redis, output[-2000:]
    # Both are gone: nothing listens on their ports and their directories were removed.
    for found in (pg, redis):
        port, directory = int(found.group(1)), Path(found.group(2))
        assert not answers(f"tcp://127.0.0.1:{port}", port)
        assert not directory.exists()
