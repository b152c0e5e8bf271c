"""Which provider serves which model id: routing, aliases, fallbacks, availability.

Every change rebuilds one `model id -> ResolvedModel` table, so `resolve()` on the hot path is
a dict lookup. Unknown ids are refused: a request is never answered by a different model
unless the operator configured that model as an explicit fallback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from parlay.errors import NotFound
from parlay.providers.base import ChatProvider, ModelInfo


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    info: ModelInfo
    provider: ChatProvider
    # Tried in order when `provider` fails with a 5xx/timeout before any byte was sent.
    fallbacks: tuple[ResolvedModel, ...] = ()


@dataclass(slots=True)
class CatalogOverride:
    """Admin edits of one model, kept across re-syncs."""

    enabled: bool | None = None
    name: str | None = None
    capabilities: list[str] | None = None


@dataclass
class ProviderEntry:
    provider: ChatProvider
    source: str                                   # env | file | admin | local | code
    configured: list[ModelInfo] = field(default_factory=list)  # known from configuration
    discovered: list[ModelInfo] = field(default_factory=list)  # from the upstream's /models
    reachable: bool | None = None                 # None: never checked
    last_error: str | None = None
    synced_at: float | None = None
    aliases: dict[str, str] = field(default_factory=dict)      # alias -> model id
    fallbacks: dict[str, list[str]] = field(default_factory=dict)  # model id -> model ids


class ProviderRegistry:
    def __init__(self, default_model: str | None = None) -> None:
        self._default_model = default_model
        self._entries: dict[str, ProviderEntry] = {}
        self._overrides: dict[str, CatalogOverride] = {}
        self._aliases: dict[str, str] = {}  # global aliases (providers file top level)
        self._catalog: dict[str, ModelInfo] = {}
        self._routes: dict[str, ResolvedModel] = {}

    # -- changing what is served -------------------------------------------------------

    def add(self, provider: ChatProvider, models: list[ModelInfo], *, source: str = "code",
            reachable: bool | None = True, aliases: dict[str, str] | None = None,
            fallbacks: dict[str, list[str]] | None = None) -> None:
        """Serve `models` through `provider` (replacing a provider of the same name)."""
        self._entries[provider.name] = ProviderEntry(
            provider, source, configured=list(models), reachable=reachable,
            aliases=dict(aliases or {}), fallbacks=dict(fallbacks or {}),
            synced_at=time.time() if reachable else None,
        )
        self._rebuild()

    def remove(self, name: str) -> ChatProvider | None:
        entry = self._entries.pop(name, None)
        self._rebuild()
        return entry.provider if entry else None

    def record_sync(self, name: str, discovered: list[ModelInfo] | None,
                    error: str | None = None) -> None:
        """Result of asking a provider for its models: the list, or why it failed."""
        entry = self._entries.get(name)
        if entry is None:
            return
        if discovered is not None:
            entry.discovered = list(discovered)
            entry.reachable, entry.last_error, entry.synced_at = True, None, time.time()
        else:
            entry.reachable, entry.last_error = False, error
        self._rebuild()

    def mark_reachable(self, name: str, reachable: bool, error: str | None = None) -> None:
        """Requests tell us too: a connect error marks a provider down, a success up."""
        entry = self._entries.get(name)
        if entry is None or entry.reachable is reachable:
            return
        entry.reachable = reachable
        entry.last_error = error if not reachable else None

    def set_default_model(self, model_id: str | None) -> None:
        self._default_model = model_id

    def set_aliases(self, aliases: dict[str, str]) -> None:
        self._aliases = dict(aliases)
        self._rebuild()

    def set_override(self, model_id: str, override: CatalogOverride) -> None:
        self._overrides[model_id] = override
        self._rebuild()

    def set_overrides(self, overrides: dict[str, CatalogOverride]) -> None:
        self._overrides = dict(overrides)
        self._rebuild()

    # -- reading -------------------------------------------------------------------------

    def resolve(self, model_id: str) -> ResolvedModel:
        route = self._routes.get(model_id)
        if route is not None:
            return route
        info = self._catalog.get(self._aliases.get(model_id, model_id))
        if info is not None and not info.enabled:
            raise NotFound(f"model {model_id!r} is disabled by an administrator",
                           code="model_disabled", param="model")
        raise NotFound(self._unknown_message(model_id), code="model_not_found", param="model")

    def models(self) -> list[ModelInfo]:
        """Every model known (enabled or not), in provider order."""
        return list(self._catalog.values())

    def get(self, model_id: str) -> ModelInfo | None:
        return self._catalog.get(model_id)

    def is_available(self, info: ModelInfo) -> bool:
        entry = self._entries.get(info.provider)
        return info.enabled and entry is not None and entry.reachable is not False

    def default_model(self) -> str | None:
        """settings.default_model if served, else the local model, else the first available."""
        if self._default_model and self._default_model in self._routes:
            return self._default_model
        chat = [m for m in self._catalog.values()
                if m.enabled and "embeddings" not in m.capabilities]
        local = next((m for m in chat if m.local), None)
        available = next((m for m in chat if self.is_available(m)), None)
        chosen = local or available or (chat[0] if chat else None)
        return chosen.id if chosen else None

    def provider(self, name: str) -> ChatProvider | None:
        entry = self._entries.get(name)
        return entry.provider if entry else None

    def entry(self, name: str) -> ProviderEntry | None:
        return self._entries.get(name)

    def entries(self) -> list[ProviderEntry]:
        return list(self._entries.values())

    def models_of(self, name: str) -> list[ModelInfo]:
        return [m for m in self._catalog.values() if m.provider == name]

    # -- internals -----------------------------------------------------------------------

    def _rebuild(self) -> None:
        catalog: dict[str, ModelInfo] = {}
        for entry in self._entries.values():
            for info in _merge(entry.configured, entry.discovered):
                model_id = info.id
                if model_id in catalog:  # served by an earlier provider: qualify it
                    model_id = f"{entry.provider.name}/{info.upstream_id}"
                    if model_id in catalog:
                        continue
                catalog[model_id] = self._overridden(replace(info, id=model_id))
        plain: dict[str, ResolvedModel] = {}
        for model_id, info in catalog.items():
            if info.enabled:
                plain[model_id] = ResolvedModel(info, self._entries[info.provider].provider)
        routes: dict[str, ResolvedModel] = {}
        for model_id, route in plain.items():
            chain = self._entries[route.info.provider].fallbacks.get(model_id, [])
            fallbacks = tuple(plain[f] for f in chain if f in plain and f != model_id)
            routes[model_id] = replace(route, fallbacks=fallbacks) if fallbacks else route
        for entry in self._entries.values():
            self._add_aliases(routes, entry.aliases)
        self._add_aliases(routes, self._aliases)
        self._catalog, self._routes = catalog, routes

    @staticmethod
    def _add_aliases(routes: dict[str, ResolvedModel], aliases: dict[str, str]) -> None:
        for alias, target in aliases.items():
            if alias not in routes and target in routes:
                routes[alias] = routes[target]

    def _overridden(self, info: ModelInfo) -> ModelInfo:
        override = self._overrides.get(info.id)
        if override is None:
            return info
        return replace(
            info,
            enabled=info.enabled if override.enabled is None else override.enabled,
            name=override.name or info.name,
            capabilities=(list(override.capabilities) if override.capabilities is not None
                          else info.capabilities),
        )

    def _unknown_message(self, model_id: str) -> str:
        served = sorted(m.id for m in self._catalog.values() if m.enabled)
        listing = ", ".join(served[:50]) + (" ..." if len(served) > 50 else "")
        available = f"available models: {listing}" if served else "no models are configured"
        return (f"model {model_id!r} is not served by this Parlay; {available}. To serve more "
                "models add a provider: set OPENAI_BASE_URL (and OPENAI_API_KEY), list it in "
                "PARLAY_PROVIDERS_FILE, or POST /v1/admin/providers")


def _merge(configured: list[ModelInfo], discovered: list[ModelInfo]) -> list[ModelInfo]:
    """Configured models first (their fields win when set), then the other discovered ones."""
    by_upstream = {m.upstream_id: m for m in discovered}
    merged: list[ModelInfo] = []
    for info in configured:
        found = by_upstream.pop(info.upstream_id, None)
        if found is None:
            merged.append(info)
            continue
        merged.append(replace(
            info,
            name=info.name or found.name,
            owned_by=info.owned_by or found.owned_by,
            created=info.created or found.created,
            capabilities=info.capabilities or found.capabilities,
            context_length=info.context_length or found.context_length,
            supported_parameters=info.supported_parameters or found.supported_parameters,
        ))
    merged.extend(by_upstream.values())
    return merged
