"""Provider specs: from OPENAI_BASE_URL, the YAML providers file, or the admin API.

Providers file (PARLAY_PROVIDERS_FILE):

    default_model: llama-3-8b          # optional; PARLAY_DEFAULT_MODEL wins
    aliases: {gpt-4: llama-3-8b}       # optional, explicit only
    providers:
      - name: vllm
        base_url: http://10.0.0.5:8000/v1
        api_key_env: VLLM_KEY          # or api_key: ...
        timeout: 120                   # seconds without a byte before 504
        connect_timeout: 5
        retries: 1                     # on connect errors / 5xx, before any byte is sent
        max_connections: 1000          # upstream connections in use at once (streams hold one)
        pool_timeout: 5                # seconds to wait for one, then 503 upstream_busy
        discover: true                 # also serve what GET /models lists
        models:
          - llama-3-8b
          - id: llama-3-70b
            upstream_id: meta-llama/Meta-Llama-3-70B-Instruct
            name: Llama 3 70B
            aliases: [llama-big]
            capabilities: [chat, tools]
            context_length: 8192
            fallbacks: [llama-3-8b]    # tried in order when this one fails (5xx/timeout)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parlay.config import ConfigError
from parlay.providers.base import ModelInfo
from parlay.providers.openai_compat import OpenAICompatProvider
from parlay.urls import API_KEY_PATTERN, check_base_url

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ModelId = Annotated[str, Field(min_length=1, max_length=300)]
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_POOL_TIMEOUT = 5.0


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=300, description="the id clients send")
    upstream_id: str | None = Field(default=None, min_length=1, max_length=300,
                                    description="the upstream's id when it differs")
    name: str | None = Field(default=None, max_length=200)
    aliases: list[ModelId] = Field(default_factory=list)
    capabilities: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list)
    context_length: int | None = Field(default=None, ge=1)
    supported_parameters: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list)
    fallbacks: list[ModelId] = Field(default_factory=list)


class ProviderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    base_url: str = Field(min_length=1, max_length=2000)
    api_key: str | None = Field(default=None, pattern=API_KEY_PATTERN)
    api_key_env: str | None = Field(default=None, max_length=200)
    timeout: float = Field(default=300.0, gt=0, le=3600)
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=0, ge=0, le=5)
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1, le=100_000)
    pool_timeout: float = Field(default=DEFAULT_POOL_TIMEOUT, ge=0, le=600)
    discover: bool = True
    models: list[ModelSpec] = Field(default_factory=list)

    @field_validator("models", mode="before")
    @classmethod
    def _bare_ids(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            return check_base_url(value)
        except ValueError as exc:
            raise ValueError(f"base_url {exc}") from None

    def resolved_api_key(self, env: Mapping[str, str] | None = None) -> str | None:
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            key = (env if env is not None else os.environ).get(self.api_key_env)
            if key is not None and not re.fullmatch(API_KEY_PATTERN, key):
                raise ConfigError(f"provider {self.name!r}: ${self.api_key_env} is not a "
                                  "valid API key (visible ASCII only)")
            return key
        return None

    def model_infos(self) -> list[ModelInfo]:
        return [ModelInfo(id=m.id, provider=self.name, upstream_id=m.upstream_id or m.id,
                          name=m.name or "", capabilities=list(m.capabilities),
                          context_length=m.context_length,
                          supported_parameters=list(m.supported_parameters))
                for m in self.models]

    def aliases(self) -> dict[str, str]:
        return {alias: m.id for m in self.models for alias in m.aliases}

    def fallbacks(self) -> dict[str, list[str]]:
        return {m.id: list(m.fallbacks) for m in self.models if m.fallbacks}

    def build(self, api_key: str | None = None) -> OpenAICompatProvider:
        return OpenAICompatProvider(
            self.name, self.base_url, api_key if api_key is not None else self.resolved_api_key(),
            self.timeout, connect_timeout=self.connect_timeout, retries=self.retries,
            max_connections=self.max_connections, pool_timeout=self.pool_timeout,
        )


class ProvidersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_model: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)
    providers: list[ProviderSpec] = Field(default_factory=list)


def load_providers_file(path: Path) -> ProvidersFile:
    """Parse and validate the file; any problem is one readable ConfigError."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read PARLAY_PROVIDERS_FILE {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"PARLAY_PROVIDERS_FILE {path} is not valid YAML{where}: "
                          f"{problem}") from None
    try:
        parsed = ProvidersFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid PARLAY_PROVIDERS_FILE {path}: {problems}") from None
    names = [p.name for p in parsed.providers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"PARLAY_PROVIDERS_FILE {path}: duplicate provider names "
                          f"{', '.join(duplicates)}")
    return parsed


def env_provider(base_url: str, api_key: str | None, *,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 pool_timeout: float = DEFAULT_POOL_TIMEOUT) -> ProviderSpec:
    """The provider named `openai` from OPENAI_BASE_URL / OPENAI_API_KEY."""
    return ProviderSpec(name="openai", base_url=base_url, api_key=api_key,
                        max_connections=max_connections, pool_timeout=pool_timeout)
