"""The embedded llama.cpp model: one worker thread owns it, requests wait in a bounded queue.

A llama.cpp context must never serve two requests at once, and decoding must never run on the
event loop. Each request is a `Job`: the event loop submits it, the worker thread generates
token by token and hands events back with `call_soon_threadsafe`. Cancelling a job (client gone)
stops the worker at the next token, or drops the job if it has not started yet.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp import llama_chat_format

from parlay.errors import ApiError, BadRequest, ServiceUnavailable, UpstreamError
from parlay.providers.local_chat import Sampling

log = logging.getLogger("parlay.providers.local")

# llama-cpp-python's own chat defaults for the samplers a request cannot set.
TOP_K = 40
MIN_P = 0.05


@dataclass(frozen=True)
class Started:
    prompt_tokens: int


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    finish_reason: str  # "stop" | "length" | "cancelled"
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    error: ApiError


Event = Started | Delta | Finished | Failed


class QueueFull(Exception):
    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"{waiting} requests are waiting")
        self.waiting = waiting
        self.retry_after = retry_after


class Job:
    """One request: the worker thread emits events, the event loop awaits them."""

    def __init__(self, messages: list[dict[str, str]], sampling: Sampling) -> None:
        self.messages = messages
        self.sampling = sampling
        self.cancelled = threading.Event()
        self.done = False
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[Event] = asyncio.Queue()

    def emit(self, event: Event) -> None:
        """Called from the worker thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    async def next_event(self) -> Event:
        event = await self._events.get()
        if isinstance(event, Finished | Failed):
            self.done = True
        return event


@dataclass
class EngineStats:
    tokens_generated: int = 0
    jobs_finished: int = 0
    jobs_cancelled: int = 0
    jobs_dropped: int = 0  # cancelled while still queued
    avg_job_seconds: float = 2.0
    busy: bool = False
    last_job_tokens: int = 0


@dataclass(frozen=True)
class _Model:
    llm: Any
    formatter: Any  # messages -> ChatFormatterResponse (the GGUF's chat template)
    vocab: Any
    n_ctx: int
    n_ctx_train: int


class LocalEngine:
    def __init__(self, model: _Model, path: Path, queue_size: int) -> None:
        self.path = path
        self.n_ctx = model.n_ctx
        self.n_ctx_train = model.n_ctx_train
        self.stats = EngineStats()
        self._model = model
        self._queue_size = queue_size
        self._pending: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._running: Job | None = None
        self._thread = threading.Thread(target=self._serve, name="parlay-local-model", daemon=True)
        self._thread.start()

    @classmethod
    def load(cls, path: Path, *, n_ctx: int, n_threads: int | None, queue_size: int) -> LocalEngine:
        """Blocking: loads the GGUF file (call it in a thread)."""
        llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
            verbose=False,
        )
        return cls(_describe(llm), path, queue_size)

    # -- event-loop side ------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise ServiceUnavailable("the local model is shutting down",
                                         code="local_model_unavailable")
            waiting = self._waiting()
            if waiting >= self._queue_size:
                retry = max(1, min(60, round((waiting + 1) * self.stats.avg_job_seconds)))
                raise QueueFull(waiting, retry)
            self._pending.append(job)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """Stop the job at its next token, or drop it if it is still waiting."""
        if job.done:
            return
        job.cancelled.set()
        with self._cond:
            if job in self._pending:
                self._pending.remove(job)
                self.stats.jobs_dropped += 1

    @property
    def waiting(self) -> int:
        with self._cond:
            return self._waiting()

    def _waiting(self) -> int:
        """Jobs queued behind the running one; an idle worker is about to take the first."""
        idle = self._running is None
        return max(0, len(self._pending) - 1) if idle else len(self._pending)

    def close(self) -> None:
        """Blocking: fail waiting jobs, stop the running one, join the worker, free the model."""
        with self._cond:
            self._closed = True
            dropped = list(self._pending)
            self._pending.clear()
            if self._running is not None:
                self._running.cancelled.set()
            self._cond.notify_all()
        for job in dropped:
            job.emit(Failed(ServiceUnavailable("the local model is shutting down",
                                               code="local_model_unavailable")))
        self._thread.join(timeout=30)
        if self._thread.is_alive():  # stuck in one long decode: freeing the model would crash it
            log.warning("the local model worker did not stop in 30 s; leaving it to exit")
            return
        self._model.llm.close()

    # -- worker thread --------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._pending.popleft()
                self._running = job
                self.stats.busy = True
            started = time.perf_counter()
            try:
                self._run(job)
            except ApiError as exc:
                self._release()
                job.emit(Failed(exc))
            except Exception as exc:
                log.exception("local model generation failed")
                self._release()
                job.emit(Failed(UpstreamError(f"the local model failed: {exc}",
                                              code="local_model_error")))
            finally:
                self._release()
                elapsed = time.perf_counter() - started
                self.stats.avg_job_seconds = 0.8 * self.stats.avg_job_seconds + 0.2 * elapsed

    def _release(self) -> None:
        """The running job is over. Before its last event goes out: a request its client
        sends next must find the worker free, not count as waiting behind it."""
        with self._cond:
            self._running = None
            self.stats.busy = False

    def _run(self, job: Job) -> None:
        if job.cancelled.is_set():
            self.stats.jobs_dropped += 1
            return
        model = self._model
        prompt = self._prompt_tokens(job.messages)
        room = model.n_ctx - len(prompt)
        if room <= 0:
            raise BadRequest(
                f"the prompt is {len(prompt)} tokens; this model's context is {model.n_ctx} "
                "tokens (PARLAY_LOCAL_CONTEXT)", code="context_length_exceeded", param="messages",
            )
        sampling = job.sampling
        limit = min(sampling.max_tokens or room, room)
        job.emit(Started(len(prompt)))
        finish, count = self._generate(job, prompt, limit)
        self.stats.last_job_tokens = count
        if finish == "cancelled":
            self.stats.jobs_cancelled += 1
        else:
            self.stats.jobs_finished += 1
        self._release()
        job.emit(Finished(finish, len(prompt), count))

    def _generate(self, job: Job, prompt: list[int], limit: int) -> tuple[str, int]:
        llm, sampling = self._model.llm, job.sampling
        seed = sampling.seed if sampling.seed is not None else random.randint(0, 2**32 - 1)
        llm.set_seed(seed)
        scanner = StopScanner(sampling.stop)
        tokens = llm.generate(
            prompt, top_k=TOP_K, top_p=sampling.top_p, min_p=MIN_P, temp=sampling.temperature,
            presence_penalty=sampling.presence_penalty,
            frequency_penalty=sampling.frequency_penalty, repeat_penalty=1.0,
        )
        finish, count = "length", 0
        try:
            for token in tokens:
                if llama_cpp.llama_vocab_is_eog(self._model.vocab, token):
                    finish = "stop"
                    break
                count += 1
                self.stats.tokens_generated += 1
                text, stopped = scanner.feed(llm.detokenize([token]))
                if text:
                    job.emit(Delta(text))
                if stopped:
                    return "stop", count
                if job.cancelled.is_set():
                    return "cancelled", count
                if count >= limit:
                    break
        finally:
            tokens.close()
        tail = scanner.flush()
        if tail:
            job.emit(Delta(tail))
        return finish, count

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        model = self._model
        try:
            rendered = model.formatter(messages=messages)
        except Exception as exc:  # the GGUF's own template refused these messages
            raise BadRequest(f"the model's chat template rejected the messages: {exc}",
                             code="invalid_messages", param="messages") from None
        return model.llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )


class StopScanner:
    """Decodes token bytes to text and cuts at the first stop string.

    Text that might be the start of a stop string is held back until it is clear either way,
    so a stop string never leaks to the client.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""

    def feed(self, data: bytes) -> tuple[str, bool]:
        self._held += self._decoder.decode(data)
        return self._release()

    def flush(self) -> str:
        self._held += self._decoder.decode(b"", final=True)
        text, _ = self._release(final=True)
        return text

    def _release(self, final: bool = False) -> tuple[str, bool]:
        held = self._held
        cuts = [i for i in (held.find(stop) for stop in self._stops) if i >= 0]
        if cuts:
            self._held = ""
            return held[: min(cuts)], True
        keep = 0 if final else self._partial_stop_length(held)
        self._held = held[len(held) - keep:]
        return held[: len(held) - keep], False

    def _partial_stop_length(self, text: str) -> int:
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest


def _describe(llm: Any) -> _Model:
    metadata = llm.metadata
    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
    template = metadata.get("tokenizer.chat_template")
    if template:
        formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
        )
    else:
        log.warning("the GGUF file has no chat template; using ChatML")
        formatter = llama_chat_format.format_chatml
    return _Model(
        llm=llm, formatter=formatter, vocab=llm._model.vocab, n_ctx=llm.n_ctx(),
        n_ctx_train=llm._model.n_ctx_train(),
    )
