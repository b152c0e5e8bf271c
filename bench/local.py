"""Local model: llama-cpp-python called directly vs the same model through Parlay's HTTP API.

    .venv/bin/python bench/local.py [--runs 5] [--max-tokens 128] [--threads N]

Same GGUF, prompt, seed, sampling, thread count and max_tokens on both sides; Parlay runs as
`parlay serve` (uvicorn) in a subprocess on loopback, streaming. Runs alternate between the two
so background load hits both alike; run i uses prompt i on both sides, new to both KV caches
(only the chat template's system prompt is a cached prefix). Prints medians, the overhead
ratios, and whether both sides generated the same text (they should: same seed).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from parlay.providers.local import BUNDLED_MODEL_ID, _default_threads, bundled_model_path

SUBJECTS = ["a dragon", "a lighthouse", "a robot", "the moon", "a river", "a library",
            "a volcano", "a clock", "a forest", "a city"]
SEED = 1234
TEMPERATURE = 0.2
TOP_P = 0.95


@dataclass
class Run:
    ttft: float      # seconds to the first content token
    total: float     # seconds to the last token
    tokens: int
    text: str

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.total


def messages(run: int) -> list[dict[str, str]]:
    subject = SUBJECTS[run % len(SUBJECTS)]
    return [{"role": "user", "content": f"Write a long story about {subject} (story {run})."}]


def direct_run(llm: object, run: int, max_tokens: int) -> Run:
    started = time.perf_counter()
    first, tokens, parts = None, 0, []
    for chunk in llm.create_chat_completion(  # type: ignore[attr-defined]
        messages(run), stream=True, max_tokens=max_tokens, seed=SEED, temperature=TEMPERATURE,
        top_p=TOP_P,
    ):
        if chunk["choices"] and (content := chunk["choices"][0]["delta"].get("content")):
            tokens += 1  # llama-cpp-python yields one chunk per token here (no stop strings)
            parts.append(content)
            first = first or time.perf_counter()
    end = time.perf_counter()
    return Run((first or end) - started, end - started, tokens, "".join(parts))


def parlay_run(http: httpx.Client, headers: dict[str, str], run: int, max_tokens: int) -> Run:
    body = {"model": BUNDLED_MODEL_ID, "messages": messages(run), "stream": True, "seed": SEED,
            "temperature": TEMPERATURE, "top_p": TOP_P, "max_tokens": max_tokens,
            "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first, tokens, parts = None, 0, []
    with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = orjson.loads(line[6:])
            if chunk["choices"] and (content := chunk["choices"][0]["delta"].get("content")):
                parts.append(content)
                first = first or time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    end = time.perf_counter()
    return Run((first or end) - started, end - started, tokens, "".join(parts))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_parlay(threads: int, workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PARLAY_DATABASE_URL": f"sqlite:///{workdir}/parlay.db",
           "PARLAY_PORT": str(port), "PARLAY_LOCAL_MODEL": "bundled",
           "PARLAY_LOCAL_THREADS": str(threads), "PARLAY_LOG_LEVEL": "warning",
           "PARLAY_RATE_LIMITS": "off"}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "PARLAY_PROVIDERS_FILE"):
        env.pop(name, None)
    parlay = Path(sys.executable).with_name("parlay")
    server = subprocess.Popen([str(parlay), "serve"], env=env, cwd=workdir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"parlay serve exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("parlay serve did not become ready in 90 s")


def summary(name: str, runs: list[Run]) -> tuple[float, float]:
    ttft = statistics.median(r.ttft for r in runs) * 1000
    tps = statistics.median(r.tokens_per_second for r in runs)
    tokens = sorted({r.tokens for r in runs})
    print(f"  {name:<22} TTFT {ttft:7.1f} ms   {tps:6.1f} tokens/s   "
          f"(tokens per run: {tokens}, TTFT range "
          f"{min(r.ttft for r in runs) * 1000:.0f}-{max(r.ttft for r in runs) * 1000:.0f} ms)")
    return ttft, tps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=_default_threads())
    parser.add_argument("--context", type=int, default=4096)
    args = parser.parse_args()
    path = bundled_model_path()
    if path is None:
        raise SystemExit("the bundled model is not installed: run `make install-local`")
    from llama_cpp import Llama

    print(f"local model bench: {path.name}, {args.runs} runs x {args.max_tokens} tokens, "
          f"{args.threads} thread(s), seed {SEED}, {os.cpu_count()} CPUs")
    llm = Llama(model_path=str(path), n_ctx=args.context, n_threads=args.threads,
                n_threads_batch=args.threads, verbose=False)
    with tempfile.TemporaryDirectory() as workdir:
        server, url = start_parlay(args.threads, workdir)
        try:
            with httpx.Client(base_url=url, timeout=120) as http:
                token = http.post("/llm/auth/guest-login").json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                direct_run(llm, -1, 8), parlay_run(http, headers, -1, 8)  # warm-up, both
                direct: list[Run] = []
                through: list[Run] = []
                for run in range(args.runs):
                    direct.append(direct_run(llm, run, args.max_tokens))
                    through.append(parlay_run(http, headers, run, args.max_tokens))
        finally:
            server.terminate()
            server.wait(timeout=30)
    llm.close()
    direct_ttft, direct_tps = summary("llama-cpp-python", direct)
    parlay_ttft, parlay_tps = summary("Parlay HTTP (stream)", through)
    print(f"  overhead: TTFT x{parlay_ttft / direct_ttft:.2f} (+{parlay_ttft - direct_ttft:.1f} ms)"
          f", throughput x{parlay_tps / direct_tps:.3f} of direct")
    same = sum(d.text == p.text for d, p in zip(direct, through, strict=True))
    print(f"  same generated text on both sides: {same}/{len(direct)} runs")


if __name__ == "__main__":
    main()
