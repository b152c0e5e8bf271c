"""Admin changes to providers and to the model catalog: stored, then applied at once.

Providers from OPENAI_BASE_URL or the providers file are listed and can be synced, but are
read-only here (their configuration lives outside the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.repositories import providers as repo
from parlay.errors import Conflict, NotFound, ValidationFailed
from parlay.providers.base import ModelInfo
from parlay.providers.config import ProviderSpec
from parlay.providers.registry import CatalogOverride, ProviderEntry
from parlay.services.gateway import Gateway

SYNC_TIMEOUT = 5.0
# Provider fields stored in the record's JSON `config` column (the rest have columns).
_CONFIG_FIELDS = ("connect_timeout", "max_connections", "pool_timeout", "discover", "models")


@dataclass(frozen=True)
class ProviderView:
    id: str
    name: str
    source: str
    spec: ProviderSpec | None     # None for providers registered in code (the local model)
    has_api_key: bool
    entry: ProviderEntry
    models: list[ModelInfo]

    @property
    def read_only(self) -> bool:
        return self.source != "admin"


class ProviderAdmin:
    def __init__(self, session: AsyncSession, gateway: Gateway) -> None:
        self._session = session
        self._gateway = gateway
        self._registry = gateway.registry

    def list(self) -> list[ProviderView]:
        return [self._view(entry) for entry in self._registry.entries()]

    def get(self, provider_id: str) -> ProviderView:
        for entry in self._registry.entries():
            view = self._view(entry)
            if provider_id in (view.id, view.name):
                return view
        raise NotFound(f"no provider {provider_id!r}", code="provider_not_found")

    async def create(self, spec: ProviderSpec, api_key: str | None) -> ProviderView:
        if self._registry.entry(spec.name) is not None or \
                await repo.get_provider_by_name(self._session, spec.name) is not None:
            raise Conflict(f"a provider named {spec.name!r} already exists",
                           code="provider_exists", param="name")
        record = await repo.add_provider(
            self._session, name=spec.name, base_url=spec.base_url,
            api_key_encrypted=self._gateway.secrets.encrypt(api_key) if api_key else None,
            timeout=spec.timeout, retries=spec.retries, config=_config_of(spec),
        )
        await self._session.commit()
        self._gateway.install_record(record)
        await self._gateway.sync(spec.name, SYNC_TIMEOUT)
        return self.get(record.id)

    async def update(self, provider_id: str, changes: dict[str, Any]) -> ProviderView:
        """`changes`: provider fields to set; `api_key` None removes the stored key."""
        view = self._editable(provider_id)
        record = await repo.get_provider(self._session, view.id)
        if record is None:
            raise NotFound(f"no provider {provider_id!r}", code="provider_not_found")
        fields = {**view.spec.model_dump(), **{k: v for k, v in changes.items()  # type: ignore[union-attr]
                                                if k != "api_key"}}
        spec = spec_of(fields)
        if spec.name != record.name and (self._registry.entry(spec.name) is not None):
            raise Conflict(f"a provider named {spec.name!r} already exists",
                           code="provider_exists", param="name")
        if "api_key" in changes:
            key = changes["api_key"]
            record.api_key_encrypted = self._gateway.secrets.encrypt(key) if key else None
        old_name = record.name
        record.name, record.base_url = spec.name, spec.base_url
        record.timeout, record.retries, record.config = spec.timeout, spec.retries, \
            _config_of(spec)
        await self._session.commit()
        if old_name != spec.name:
            self._gateway.uninstall(old_name)
        self._gateway.install_record(record)
        await self._gateway.sync(spec.name, SYNC_TIMEOUT)
        return self.get(record.id)

    async def delete(self, provider_id: str) -> None:
        view = self._editable(provider_id)
        await repo.delete_provider(self._session, view.id)
        await self._session.commit()
        self._gateway.uninstall(view.name)

    async def sync(self, provider_id: str) -> ProviderView:
        view = self.get(provider_id)
        if self._gateway.installed(view.name) is None:
            raise Conflict(f"provider {view.name!r} is built in and has nothing to sync",
                           code="provider_read_only")
        await self._gateway.sync(view.name, SYNC_TIMEOUT)
        return self.get(provider_id)

    async def update_model(self, model_id: str, *, enabled: bool | None = None,
                           name: str | None = None,
                           capabilities: list[str] | None = None) -> ModelInfo:
        if self._registry.get(model_id) is None:
            raise NotFound(f"model {model_id!r} is not in the catalog", code="model_not_found")
        record = await repo.get_override(self._session, model_id) or \
            await repo.add_override(self._session, model_id)
        if enabled is not None:
            record.enabled = enabled
        if name is not None:
            record.name = name
        if capabilities is not None:
            record.capabilities = list(dict.fromkeys(capabilities))
        await self._session.commit()
        self._registry.set_override(
            model_id, CatalogOverride(record.enabled, record.name, record.capabilities))
        info = self._registry.get(model_id)
        assert info is not None
        return info

    def _editable(self, provider_id: str) -> ProviderView:
        view = self.get(provider_id)
        if view.read_only:
            where = {"env": "OPENAI_BASE_URL", "file": "PARLAY_PROVIDERS_FILE"}.get(
                view.source, "code")
            raise Conflict(f"provider {view.name!r} is configured by {where}; change it there",
                           code="provider_read_only")
        return view

    def _view(self, entry: ProviderEntry) -> ProviderView:
        name = entry.provider.name
        installed = self._gateway.installed(name)
        models = self._registry.models_of(name)
        if installed is None:
            return ProviderView(name, name, entry.source, None, False, entry, models)
        return ProviderView(installed.record_id or name, name, installed.source, installed.spec,
                            installed.has_api_key, entry, models)


def spec_of(fields: dict[str, Any]) -> ProviderSpec:
    """A provider spec from API fields; any problem is a 422 naming the field."""
    try:
        return ProviderSpec.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValidationFailed(str(error["msg"]), param=".".join(
            str(p) for p in error["loc"]) or None) from None


def _config_of(spec: ProviderSpec) -> dict[str, Any]:
    dumped = spec.model_dump(include=set(_CONFIG_FIELDS), exclude_none=True)
    dumped["models"] = [{k: v for k, v in m.items() if v not in (None, [], "")}
                        for m in dumped.get("models", [])]
    return dumped
