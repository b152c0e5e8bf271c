"""A real OpenAI-compatible HTTP server for tests and benchmarks (loopback only).

Replies are deterministic: "echo: <last user message>". The last user message can steer it:
  "!status 500"   answer with that HTTP status and an OpenAI-style error body
  "!sleep 2.5"    wait that many seconds before answering
  "!cut 3"        (stream) send 3 chunks, then drop the connection without [DONE]
  "!hang"         (stream) send one chunk, then wait until the client goes away
  "!slow 0.05 …"  (stream) wait that many seconds before each chunk (more words may follow)
  "!markdown"     answer with MARKDOWN_REPLY (headings, a table, a list, a code block)
  "!xss"          answer with XSS_REPLY (HTML and script a browser must never run)
  "!call NAME {json}"  answer with a call of tool NAME with these arguments (streamed: in
                  pieces), finish_reason "tool_calls"
  "!tool add {"a": 1} ;; add {"a": 2}"  the same for one or more calls (" ;; " between them),
                  with ids call_<results so far>_<index>
  "!toolloop add {...}"  call the tool at every step, whatever the results (a step limit test)
  "!toolchain add {...} >> sub {...}"  one step's calls after another (" >> " between steps,
                  " ;; " between a step's calls): step N after N tool rounds since the last
                  user message, then the usual "tool said: ..." answer
  "!tooltext add {...}"  like "!tool", with the text "Let me look. " before the calls (streamed:
                  in the same chunk as the first call's first piece)
When the messages end with tool results, the reply is "tool said: <their contents joined by
' | '>" (the end of a function-call round trip). A reply cut short by max_tokens ends with
finish_reason "length".
A test can script answers: `with mock.answering("some prompt text", "the reply"):` makes every
chat request whose messages contain that text answer with that reply instead (whatever the
command, and after tool results too).
Every request received is kept in `MockUpstream.requests` (method, path, headers, body).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MARKDOWN_REPLY = """## Plan

Here is **bold**, *italic* and `inline code`.

- first item
- second item

| language | typed |
|---|---|
| Python | gradually |
| Rust | statically |

```python
def greet(name: str) -> str:
    return f"hello {name}"
```
"""
TOOL_TEXT = "Let me look. "
XSS_REPLY = """Careful: <img src=x onerror="window.__xss = 'img'"> and
<script>window.__xss = 'script'</script> <svg onload="window.__xss = 'svg'"></svg>
[a link](javascript:window.__xss='link') <a href="javascript:alert(1)">raw link</a>
<iframe src="javascript:alert(1)"></iframe> <b style="color:red" onclick="alert(1)">bold</b>

![pixel](https://tracker.example/pixel.png) [docs](https://example.org/docs)
"""


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class MockUpstream:
    models: list[str] = field(default_factory=lambda: ["mock-small", "mock-large"])
    owned_by: str = "mock"
    requests: list[Received] = field(default_factory=list)
    cancelled: int = 0  # streams whose client went away before the end
    api_key: str | None = None
    url: str = ""
    scripted: list[tuple[str, str]] = field(default_factory=list)  # (text in messages, reply)

    @contextlib.contextmanager
    def answering(self, when_contains: str, reply: str):
        """Within the block, chat requests whose messages contain `when_contains` get
        `reply` as the assistant's answer (instead of the echo)."""
        rule = (when_contains, reply)
        self.scripted.append(rule)
        try:
            yield self
        finally:
            self.scripted.remove(rule)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
        ])

    def chat_requests(self) -> list[Received]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def sent_with(self, marker: str) -> list[Any]:
        """The bodies of the chat requests that mention `marker`, oldest first."""
        return [r.body for r in self.chat_requests() if marker in orjson.dumps(r.body).decode()]

    async def _authorized(self, request: Request) -> Response | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"error": {"message": "bad key", "type": "auth"}}, 401)
        return None

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        body = orjson.loads(raw) if raw else None
        self.requests.append(Received(request.method, request.url.path,
                                      dict(request.headers), body))
        return body

    async def _models(self, request: Request) -> Response:
        await self._record(request)
        if denied := await self._authorized(request):
            return denied
        data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": self.owned_by}
                for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _embeddings(self, request: Request) -> Response:
        body = await self._record(request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i,
                 "embedding": [float(len(str(text))), float(i), 0.5]}
                for i, text in enumerate(inputs)]
        tokens = sum(len(str(t).split()) for t in inputs)
        return JSONResponse({"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _chat(self, request: Request) -> Response:
        body = await self._record(request)
        if denied := await self._authorized(request):
            return denied
        if body.get("model") not in self.models:
            return JSONResponse({"error": {"message": f"model {body.get('model')} not found",
                                           "type": "invalid_request_error",
                                           "code": "model_not_found"}}, 404)
        prompt = _last_user_text(body.get("messages", []))
        command, _, arg = prompt.partition(" ")
        if command == "!status":
            return JSONResponse({"error": {"message": "mock failure", "type": "server_error"}},
                                int(arg or 500))
        if command == "!sleep":
            await asyncio.sleep(float(arg or 1))
        messages = body.get("messages", [])
        results = _results(messages)
        scripted = self._scripted_reply(messages)
        reply = scripted or {"!markdown": MARKDOWN_REPLY, "!xss": XSS_REPLY}.get(
            command, f"echo: {prompt}")
        calls = [] if scripted else self._calls(command, arg, messages)
        if not scripted and results and not (command in ("!toolloop", "!toolchain") and calls):
            reply = "tool said: " + " | ".join(str(m.get("content")) for m in results)
        elif calls:
            return self._tool_answer(body, calls, TOOL_TEXT if command == "!tooltext" else None)
        finish = "stop"
        if body.get("max_tokens") is not None and len(reply.split()) > int(body["max_tokens"]):
            reply, finish = " ".join(reply.split()[: int(body["max_tokens"])]), "length"
        usage = _usage(messages, len(reply.split()))
        if body.get("stream"):
            return StreamingResponse(self._stream(body, reply, usage, command, arg, request,
                                                  finish),
                                     media_type="text/event-stream")
        return JSONResponse({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": reply}}],
            "usage": usage,
        })

    def _calls(self, command: str, arg: str, messages: list[dict]) -> list[dict]:
        """The tool calls `!call`, `!tool`, `!toolloop` and `!toolchain` ask for."""
        if command == "!call":
            specs, ids = [arg], [f"call_mock{len(self.requests)}"]
        elif command == "!toolchain":
            steps, done = arg.split(" >> "), _rounds_since_user(messages)
            if done >= len(steps):
                return []
            specs = steps[done].split(" ;; ")
            ids = [f"call_chain{done}_{index}" for index in range(len(specs))]
        elif command in ("!tool", "!toolloop", "!tooltext"):
            specs = arg.split(" ;; ")
            done = sum(1 for m in messages if m.get("role") == "tool")
            ids = [f"call_{done}_{index}" for index in range(len(specs))]
        else:
            return []
        calls = []
        for call_id, spec in zip(ids, specs, strict=True):
            name, _, arguments = spec.strip().partition(" ")
            calls.append({"id": call_id, "type": "function",
                          "function": {"name": name, "arguments": arguments.strip() or "{}"}})
        return calls

    def _tool_answer(self, body: dict, calls: list[dict], content: str | None) -> Response:
        """The model asks for tools (streamed: each call's arguments in pieces)."""
        arguments = [call["function"]["arguments"] for call in calls]
        usage = _usage(body.get("messages", []), sum(len(a.split()) + 1 for a in arguments))
        base = {"id": "chatcmpl-mock", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "finish_reason": "tool_calls",
                 "message": {"role": "assistant", "content": content, "tool_calls": calls}}]})
        deltas = []
        for index, (call, text) in enumerate(zip(calls, arguments, strict=True)):
            first = {"index": index, "id": call["id"], "type": "function",
                     "function": {"name": call["function"]["name"], "arguments": ""}}
            deltas.append({"role": "assistant", "content": content, "tool_calls": [first]}
                          if index == 0 else {"tool_calls": [first]})
            third = max(len(text) // 3, 1)
            deltas += [{"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                       for piece in (text[i:i + third] for i in range(0, len(text), third))]
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [{**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
                  for d in deltas]
        events.append({**chunk, "choices": [{"index": 0, "delta": {},
                                             "finish_reason": "tool_calls"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": usage})
        data = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
        return Response(data + b"data: [DONE]\n\n", media_type="text/event-stream")

    def _scripted_reply(self, messages: list[dict]) -> str | None:
        text = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        return next((reply for needle, reply in self.scripted if needle in text), None)

    async def _stream(self, body: dict, reply: str, usage: dict, command: str, arg: str,
                      request: Request, finish: str = "stop"):
        base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body["model"]}
        words = reply.split(" ")
        deltas = [{"role": "assistant", "content": ""}]
        deltas += [{"content": (w if i == 0 else " " + w)} for i, w in enumerate(words)]
        try:
            for i, delta in enumerate(deltas):
                if command == "!cut" and i >= int(arg or 1):
                    raise ConnectionAbortedError  # ends the response without [DONE]
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                if command == "!slow":
                    await asyncio.sleep(float((arg.split() or ["0.05"])[0]))
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                if command == "!hang":
                    while not await request.is_disconnected():  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    self.cancelled += 1
                    return
            final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
            yield b"data: " + orjson.dumps(final) + b"\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
            yield b"data: [DONE]\n\n"
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _rounds_since_user(messages: list[dict]) -> int:
    """How many tool rounds the assistant made since the last user message."""
    rounds = 0
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        rounds += message.get("role") == "assistant" and bool(message.get("tool_calls"))
    return rounds


def _results(messages: list[dict]) -> list[dict]:
    """The tool results the messages end with."""
    trailing: list[dict] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        trailing.insert(0, message)
    return trailing


def _usage(messages: list[dict], completion_tokens: int) -> dict[str, int]:
    prompt_tokens = _count(messages)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _count(messages: list[dict]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages) or 1


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, host: str = "127.0.0.1", lifespan: str = "auto"):
    """Serve an ASGI app with uvicorn on a free loopback port; yields the base URL.

    lifespan="off" serves an app whose lifespan already runs (e.g. inside `running_app`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def running_mock(**kwargs: Any):
    mock = MockUpstream(**kwargs)
    async with serve_asgi(mock.app()) as url:
        mock.url = url + "/v1"
        yield mock


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(MockUpstream().app(), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)
