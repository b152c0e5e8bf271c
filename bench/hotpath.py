"""In-process CPU per request of Parlay's gateway path (fast path, auth, relay).

    .venv/bin/python bench/hotpath.py

The provider is an in-process object (no network, no other process), so what is measured
is Parlay's own work per plain chat completion, streamed and not, as process CPU time per
request (median of 7 rounds of 1,000). Less sensitive to a busy box than bench/gateway.py:
use it to compare two versions of the code (PYTHONPATH=<other checkout>/src runs another).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "canned",
             "choices": choices, **extra}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class CannedProvider:
    name = "canned"
    kind = "openai_compat"

    def __init__(self) -> None:
        words = ["", "Hello", " there", " this", " is", " a", " short", " reply", "."]
        self.events = [_chunk([{"index": 0, "delta": {"content": w}, "finish_reason": None}])
                       for w in words]
        self.events += [_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
                        _chunk([], usage={"prompt_tokens": 5, "completion_tokens": 8,
                                          "total_tokens": 13}),
                        b"data: [DONE]\n\n"]

    async def list_models(self):
        return []

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": "c", "object": "chat.completion", "created": 1, "model": "canned",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hello there"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}

    async def stream_chat(self, body: dict[str, Any]):
        for event in self.events:
            yield event

    async def embeddings(self, body):
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


async def call(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    sent = False
    status = 0

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "state": {}, "app": app}
    await app(scope, receive, send)
    return status


async def main() -> None:
    from conftest import make_settings, running_app
    from parlay.providers.base import ModelInfo

    tmp = tempfile.mkdtemp()
    settings = make_settings(f"sqlite:///{tmp}/p.db", log_level="error")
    async with running_app(settings) as app:
        app.state.ctx.providers.add(CannedProvider(), [ModelInfo(id="canned", provider="canned", upstream_id="canned")])
        from httpx import ASGITransport, AsyncClient
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            token = (await http.post("/llm/auth/guest-login")).json()["access_token"]
        headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
        plain = orjson.dumps({"model": "canned", "messages": [{"role": "user", "content": "hi"}]})
        stream = orjson.dumps({"model": "canned", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        for name, body in (("non-stream", plain), ("stream", stream)):
            for _ in range(300):
                assert await call(app, body, headers) == 200
            rounds = []
            for _ in range(7):
                n = 1000
                start = time.process_time()
                for _ in range(n):
                    await call(app, body, headers)
                rounds.append((time.process_time() - start) / n * 1e6)
            print(f"{name}: median {statistics.median(rounds):.1f} us/request  (rounds {', '.join(f'{r:.0f}' for r in rounds)})")


asyncio.run(main())
