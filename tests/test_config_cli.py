"""Start-up configuration through the real CLI: every bad setting stops `parlay serve` with one
line naming it and exit code 2 (no traceback); list settings take both documented forms."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support.server import ParlayProcess, free_port


def _closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


# (environment, the name the one line must contain)
BAD_SETTINGS: list[tuple[dict[str, str], str]] = [
    ({"PARLAY_PORT": "abc"}, "PARLAY_PORT"),
    ({"PARLAY_PORT": "70000"}, "PARLAY_PORT"),
    ({"PARLAY_WORKERS": "0"}, "PARLAY_WORKERS"),
    ({"PARLAY_HOST": "no.such.host.invalid"}, "PARLAY_HOST"),
    ({"PARLAY_DATABASE_URL": "mysql://x/db"}, "PARLAY_DATABASE_URL"),
    ({"PARLAY_DATABASE_URL": "postgresql://u@h:notaport/db"}, "PARLAY_DATABASE_URL"),
    ({"PARLAY_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{_closed_port()}/db"},
     "PARLAY_DATABASE_URL"),
    ({"PARLAY_DATABASE_URL": "sqlite:///{tmp}/a-file/parlay.db"}, "PARLAY_DATABASE_URL"),
    ({"PARLAY_REDIS_URL": "localhost:6379"}, "PARLAY_REDIS_URL"),
    ({"PARLAY_REDIS_URL": "redis://h:port/0"}, "PARLAY_REDIS_URL"),
    ({"PARLAY_REDIS_PREFIX": "a b"}, "PARLAY_REDIS_PREFIX"),
    ({"PARLAY_JWT_SECRET": "short"}, "PARLAY_JWT_SECRET"),
    ({"PARLAY_ACCESS_TOKEN_TTL": "1"}, "PARLAY_ACCESS_TOKEN_TTL"),
    ({"PARLAY_REFRESH_TOKEN_TTL": "a month"}, "PARLAY_REFRESH_TOKEN_TTL"),
    ({"PARLAY_ADMIN_API_KEY": "has spaces in it, 32 characters"}, "PARLAY_ADMIN_API_KEY"),
    ({"PARLAY_ADMIN_API_KEY": "short"}, "PARLAY_ADMIN_API_KEY"),
    ({"PARLAY_PUBLIC_URL": "parlay.example.com"}, "PARLAY_PUBLIC_URL"),
    ({"PARLAY_CORS_ORIGINS": "[not json"}, "PARLAY_CORS_ORIGINS"),
    ({"PARLAY_CORS_ORIGINS": "http://a.example/,http://b.example"}, "PARLAY_CORS_ORIGINS"),
    ({"PARLAY_CORS_ORIGINS": "a.example"}, "PARLAY_CORS_ORIGINS"),
    ({"PARLAY_CORS_ORIGINS": '{"a": 1}'}, "PARLAY_CORS_ORIGINS"),
    ({"PARLAY_LOG_LEVEL": "loud"}, "PARLAY_LOG_LEVEL"),
    ({"PARLAY_AUTO_MIGRATE": "maybe"}, "PARLAY_AUTO_MIGRATE"),
    ({"PARLAY_AUTH_CACHE_TTL": "-1"}, "PARLAY_AUTH_CACHE_TTL"),
    ({"PARLAY_MAX_BODY_BYTES": "1"}, "PARLAY_MAX_BODY_BYTES"),
    ({"PARLAY_RATE_LIMITS": "chat=lots"}, "PARLAY_RATE_LIMITS"),
    ({"PARLAY_STALE_REPLY_SECONDS": "0"}, "PARLAY_STALE_REPLY_SECONDS"),
    ({"PARLAY_PROVIDERS_FILE": "{tmp}/missing.yaml"}, "PARLAY_PROVIDERS_FILE"),
    ({"PARLAY_PROVIDERS_FILE": "{tmp}/broken.yaml"}, "PARLAY_PROVIDERS_FILE"),
    ({"PARLAY_PROVIDERS_FILE": "{tmp}/bad-cap.yaml"}, "max_connections"),
    ({"PARLAY_PROVIDERS_FILE": "{tmp}/bad-key-env.yaml", "BAD_KEY": "two words"}, "BAD_KEY"),
    ({"PARLAY_SECRET_KEY": "short"}, "PARLAY_SECRET_KEY"),
    ({"OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL"),
    ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "two words"},
     "OPENAI_API_KEY"),
    ({"PARLAY_LOCAL_MODEL": "{tmp}/missing.gguf"}, "PARLAY_LOCAL_MODEL"),
    ({"PARLAY_LOCAL_THREADS": "0"}, "PARLAY_LOCAL_THREADS"),
    ({"PARLAY_LOCAL_CONTEXT": "10"}, "PARLAY_LOCAL_CONTEXT"),
    ({"PARLAY_LOCAL_QUEUE_SIZE": "0"}, "PARLAY_LOCAL_QUEUE_SIZE"),
    ({"PARLAY_UPSTREAM_MAX_CONNECTIONS": "0"}, "PARLAY_UPSTREAM_MAX_CONNECTIONS"),
    ({"PARLAY_UPSTREAM_POOL_TIMEOUT": "soon"}, "PARLAY_UPSTREAM_POOL_TIMEOUT"),
    ({"PARLAY_SEARXNG_URL": "searx.local:8888"}, "PARLAY_SEARXNG_URL"),
    ({"PARLAY_WEB_ALLOWED_HOSTS": "[not json"}, "PARLAY_WEB_ALLOWED_HOSTS"),
    ({"PARLAY_CODE_EXECUTOR": "docker"}, "PARLAY_CODE_EXECUTOR"),
    ({"PARLAY_TOOL_TIMEOUT": "0"}, "PARLAY_TOOL_TIMEOUT"),
    ({"PARLAY_LOCAL_EMBEDDING_MODEL": "{tmp}/minilm.onnx"}, "PARLAY_LOCAL_EMBEDDING_MODEL"),
    ({"PARLAY_MEMORY_MAX_PER_USER": "0"}, "PARLAY_MEMORY_MAX_PER_USER"),
]


def _clean_env(tmp: Path) -> dict[str, str]:
    """The caller's environment minus any Parlay setting, plus a harmless baseline."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PARLAY_", "OPENAI_"))}
    return {**env, "PARLAY_DATABASE_URL": f"sqlite:///{tmp}/parlay.db",
            "PARLAY_LOCAL_MODEL": "off", "PARLAY_PORT": str(free_port())}


def _write_fixtures(tmp: Path) -> None:
    (tmp / "a-file").write_text("not a directory")
    (tmp / "broken.yaml").write_text("providers: [name: {")
    (tmp / "bad-cap.yaml").write_text(
        "providers:\n  - {name: p, base_url: 'http://127.0.0.1:9/v1', max_connections: 0}\n")
    (tmp / "bad-key-env.yaml").write_text(
        "providers:\n  - {name: p, base_url: 'http://127.0.0.1:9/v1', api_key_env: BAD_KEY}\n")


def _serve(tmp: Path, overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**_clean_env(tmp), **{k: v.replace("{tmp}", str(tmp)) for k, v in overrides.items()}}
    return subprocess.run([sys.executable, "-m", "parlay.cli", "serve"], env=env, cwd=tmp,
                          capture_output=True, text=True, timeout=20)


def test_every_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    _write_fixtures(tmp_path)
    with socket.socket() as taken:  # a port someone else listens on
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cases = [*BAD_SETTINGS, ({"PARLAY_PORT": str(taken.getsockname()[1])}, "PARLAY_PORT")]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda case: _serve(tmp_path, case[0]), cases))
    failures = []
    for (env, name), result in zip(cases, results, strict=True):
        lines = result.stderr.strip().splitlines()
        ok = (result.returncode == 2 and len(lines) == 1 and lines[0].startswith("parlay: ")
              and name in lines[0] and "Traceback" not in result.stderr)
        if not ok:
            failures.append(f"{env}: exit {result.returncode}, stderr:\n{result.stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("origins", ["http://a.example, http://b.example:8080",
                                     '["http://a.example", "http://b.example:8080"]'])
def test_cors_origins_comma_and_json_forms(tmp_path: Path, origins: str) -> None:
    env = _clean_env(tmp_path)
    env.pop("PARLAY_PORT")
    server = ParlayProcess({**env, "PARLAY_CORS_ORIGINS": origins}).start()
    try:
        for origin in ("http://a.example", "http://b.example:8080"):
            response = httpx.options(f"{server.url}/v1/models", headers={
                "Origin": origin, "Access-Control-Request-Method": "GET"})
            assert response.status_code == 200, response.text
            assert response.headers["access-control-allow-origin"] == origin
        other = httpx.options(f"{server.url}/v1/models", headers={
            "Origin": "http://c.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in other.headers
    finally:
        server.stop()
