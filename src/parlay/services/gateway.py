"""Start-up and upkeep of the provider registry.

Providers come from OPENAI_BASE_URL (named `openai`), PARLAY_PROVIDERS_FILE and the admin API
(stored in the database, keys encrypted). Their models are discovered concurrently with a short
timeout; a provider that is down keeps its configured models listed as unavailable, and a
background task retries it (and picks up admin changes made by other workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parlay.config import Settings
from parlay.db.models.gateway import ModelOverrideRecord, ProviderRecord
from parlay.db.repositories import providers as repo
from parlay.errors import ApiError, UpstreamBusy
from parlay.providers.base import ChatProvider
from parlay.providers.config import ProviderSpec, env_provider, load_providers_file
from parlay.providers.registry import CatalogOverride, ProviderRegistry
from parlay.services.chat import ChatService
from parlay.services.replies import ReplyDeps
from parlay.services.secretbox import SecretBox
from parlay.services.usage import UsageRecorder

if TYPE_CHECKING:
    from parlay.context import AppContext

log = logging.getLogger("parlay.gateway")
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass
class Installed:
    spec: ProviderSpec
    source: str                  # env | file | admin
    record_id: str | None = None  # the database row of admin-added providers
    has_api_key: bool = False
    version: datetime | None = None  # the row's updated_at, to notice changes by others


class Gateway:
    def __init__(self, registry: ProviderRegistry,
                 sessionmaker: async_sessionmaker[AsyncSession], secrets: SecretBox, *,
                 discovery_timeout: float = 3.0, refresh_interval: float = 30.0) -> None:
        self.registry = registry
        self.secrets = secrets
        self._sessionmaker = sessionmaker
        self._discovery_timeout = discovery_timeout
        self._refresh_interval = refresh_interval
        self._installed: dict[str, Installed] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._db_fingerprint: tuple[Any, ...] | None = None

    async def start(self, settings: Settings) -> None:
        aliases: dict[str, str] = {}
        if settings.openai_base_url or settings.openai_api_key:
            spec = env_provider(settings.openai_base_url or OPENAI_DEFAULT_BASE_URL,
                                settings.openai_api_key,
                                max_connections=settings.upstream_max_connections,
                                pool_timeout=settings.upstream_pool_timeout)
            self.install(spec, "env", has_api_key=bool(settings.openai_api_key))
        if settings.providers_file is not None:
            parsed = load_providers_file(settings.providers_file)
            for spec in parsed.providers:
                if self._refuse_duplicate(spec.name, "PARLAY_PROVIDERS_FILE"):
                    continue
                self.install(spec, "file", has_api_key=bool(spec.resolved_api_key()))
            aliases = parsed.aliases
            if parsed.default_model and not settings.default_model:
                self.registry.set_default_model(parsed.default_model)
        self.registry.set_aliases(aliases)
        await self._load_database()
        await asyncio.gather(*(self.sync(name) for name in list(self._installed)))
        self._spawn(self._upkeep())

    def install(self, spec: ProviderSpec, source: str, *, record_id: str | None = None,
                api_key: str | None = None, has_api_key: bool = False) -> None:
        """Serve a provider (replacing one of the same name); models unknown until sync."""
        previous = self.registry.entry(spec.name)
        self._installed[spec.name] = Installed(spec, source, record_id, has_api_key)
        self.registry.add(spec.build(api_key), spec.model_infos(), source=source,
                          reachable=None, aliases=spec.aliases(), fallbacks=spec.fallbacks())
        if previous is not None:
            self._close_later(previous.provider)

    def uninstall(self, name: str) -> None:
        self._installed.pop(name, None)
        provider = self.registry.remove(name)
        if provider is not None:
            self._close_later(provider)

    def installed(self, name: str) -> Installed | None:
        return self._installed.get(name)

    async def sync(self, name: str, within: float | None = None) -> bool:
        """Ask the provider for its models; record them, or that it is unreachable."""
        installed = self._installed.get(name)
        provider = self.registry.provider(name)
        if installed is None or provider is None:
            return False
        within = within or self._discovery_timeout
        try:
            async with asyncio.timeout(within):
                models = await provider.list_models()
        except UpstreamBusy as exc:  # reachable, only full: nothing learnt, nothing to change
            log.warning("provider %s: model discovery skipped: %s", name, exc.message)
            return False
        except (ApiError, TimeoutError) as exc:
            message = exc.message if isinstance(exc, ApiError) else f"no answer in {within}s"
            log.warning("provider %s: model discovery failed: %s", name, message)
            self.registry.record_sync(name, None, message)
            return False
        self.registry.record_sync(name, models if installed.spec.discover else [])
        return True

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for entry in self.registry.entries():
            if entry.provider.name in self._installed:
                with contextlib.suppress(Exception):
                    await entry.provider.aclose()

    # -- database-backed state -----------------------------------------------------------

    async def _load_database(self) -> None:
        async with self._sessionmaker() as session:
            records = await repo.list_providers(session)
            overrides = await repo.list_overrides(session)
        self._db_fingerprint = _fingerprint(records, overrides)
        for record in records:
            if not self._refuse_duplicate(record.name, "the database"):
                self.install_record(record)
        self.registry.set_overrides({
            o.model_id: CatalogOverride(o.enabled, o.name, o.capabilities) for o in overrides
        })

    def install_record(self, record: ProviderRecord) -> None:
        api_key = self.secrets.decrypt(record.api_key_encrypted) if record.api_key_encrypted \
            else None
        if record.api_key_encrypted and api_key is None:
            log.warning("provider %s: stored API key cannot be decrypted with the current "
                        "PARLAY_SECRET_KEY; set the key again with PATCH", record.name)
        spec = spec_of_record(record)
        self.install(spec, "admin", record_id=record.id, api_key=api_key or "",
                     has_api_key=api_key is not None)
        self._installed[record.name].version = record.updated_at

    async def _refresh_from_database(self) -> None:
        """Pick up admin changes made through another worker."""
        async with self._sessionmaker() as session:
            records = await repo.list_providers(session)
            overrides = await repo.list_overrides(session)
        fingerprint = _fingerprint(records, overrides)
        if fingerprint == self._db_fingerprint:
            return
        self._db_fingerprint = fingerprint
        stored = {r.name: r for r in records}
        for name, installed in list(self._installed.items()):
            if installed.source == "admin" and name not in stored:
                self.uninstall(name)
        for record in records:
            current = self._installed.get(record.name)
            if current is not None and current.source != "admin":
                continue
            if current is None or current.version != record.updated_at:
                self.install_record(record)
                await self.sync(record.name)
        self.registry.set_overrides({
            o.model_id: CatalogOverride(o.enabled, o.name, o.capabilities) for o in overrides
        })

    def note_database_change(self, records: Sequence[ProviderRecord],
                             overrides: Sequence[ModelOverrideRecord]) -> None:
        self._db_fingerprint = _fingerprint(records, overrides)

    # -- background upkeep ---------------------------------------------------------------

    async def _upkeep(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            try:
                await self._refresh_from_database()
                down = [e.provider.name for e in self.registry.entries()
                        if e.reachable is False and e.provider.name in self._installed]
                await asyncio.gather(*(self.sync(name) for name in down))
            except Exception:
                log.exception("provider upkeep failed")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close_later(self, provider: ChatProvider, grace: float = 60.0) -> None:
        """Close a replaced provider's client once requests in flight had time to finish."""
        async def close() -> None:
            try:
                await asyncio.sleep(grace)
            finally:
                await provider.aclose()
        self._spawn(close())

    def _refuse_duplicate(self, name: str, where: str) -> bool:
        if name in self._installed:
            log.warning("provider %r from %s ignored: a provider of that name is already "
                        "configured (%s)", name, where, self._installed[name].source)
            return True
        return False


def spec_of_record(record: ProviderRecord) -> ProviderSpec:
    config = record.config or {}
    return ProviderSpec(name=record.name, base_url=record.base_url, timeout=record.timeout,
                        retries=record.retries, **config)


def _fingerprint(records: Sequence[ProviderRecord],
                 overrides: Sequence[ModelOverrideRecord]) -> tuple[Any, ...]:
    return (tuple((r.id, r.updated_at) for r in records),
            tuple(sorted((o.model_id, o.updated_at) for o in overrides)))


async def start_gateway(ctx: AppContext) -> None:
    """Fill ctx.providers / usage / gateway / chat / replies; shutdown is pushed on
    ctx.resources."""
    registry = ProviderRegistry(default_model=ctx.settings.default_model)
    ctx.providers = registry
    recorder = UsageRecorder(ctx.sessionmaker)
    recorder.start()
    ctx.usage = recorder
    ctx.resources.push_async_callback(recorder.aclose)
    ctx.chat = ChatService(registry, recorder, ctx.limiter)
    ctx.replies = ReplyDeps(ctx.chat, registry, ctx.sessionmaker)
    gateway = Gateway(registry, ctx.sessionmaker, SecretBox(ctx.settings.resolved_secret_key()))
    ctx.gateway = gateway
    ctx.resources.push_async_callback(gateway.aclose)
    await gateway.start(ctx.settings)
