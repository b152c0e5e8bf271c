"""What `parlay serve` prints once the server accepts connections: the URL and examples."""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

_WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in shown:  # IPv6 literal
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def ready_banner(url: str, model: str | None, local: bool) -> str:
    if model is None:
        return (
            f"\nParlay is ready on {url} (API docs: {url}/docs)\n"
            f"Open {url}/ in a browser for the chat app.\n"
            "No model is configured: set OPENAI_BASE_URL (+ OPENAI_API_KEY), list providers in "
            "PARLAY_PROVIDERS_FILE, or run `make install-local` for the embedded model.\n"
        )
    where = "embedded local model, no network needed" if local else "upstream provider"
    return f"""
Parlay is ready on {url}  (API docs: {url}/docs)
Default model: {model} ({where})
Chat in a browser: open {url}/

Try it with curl:
  TOKEN=$(curl -s -X POST {url}/llm/auth/guest-login \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s {url}/v1/chat/completions \\
    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
    -d '{{"model": "{model}", "max_tokens": 100,
         "messages": [{{"role": "user", "content": "Write a haiku about the sea."}}]}}'

Or from Python (pip install openai):
  import httpx, openai
  token = httpx.post("{url}/llm/auth/guest-login").json()["access_token"]
  client = openai.OpenAI(base_url="{url}/v1", api_key=token)
  reply = client.chat.completions.create(
      model="{model}", messages=[{{"role": "user", "content": "Hello!"}}], max_tokens=100)
  print(reply.choices[0].message.content)
"""


class ReadyServer(uvicorn.Server):
    """A uvicorn server that prints the ready banner once its sockets listen."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.started:
            return
        model, local = _default_model()
        print(ready_banner(self._url, model, local), file=sys.stderr, flush=True)


def _default_model() -> tuple[str | None, bool]:
    from parlay import main

    registry = getattr(main.app.state.ctx, "providers", None)
    model = registry.default_model() if registry is not None else None
    info = registry.get(model) if model is not None else None
    return model, bool(info and info.local)
