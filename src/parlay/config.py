"""One Settings object, read from the environment (prefix PARLAY_) and an optional .env file."""

from __future__ import annotations

import json
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from parlay.ratelimit_spec import DEFAULT_LIMITS, parse_limits
from parlay.urls import check_api_key, check_base_url, check_origin

DEFAULT_DATABASE_URL = "sqlite:///./data/parlay.db"


class ConfigError(Exception):
    """Bad configuration: the message is one line meant for a human at start-up."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PARLAY_", env_file=".env", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    redis_prefix: str = Field(default="parlay", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # HS256 wants a key of at least 32 bytes (RFC 7518 3.2); PyJWT warns below that.
    jwt_secret: str | None = Field(default=None, min_length=32)
    access_token_ttl: int = Field(default=900, ge=30, description="seconds")
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=60, description="seconds")
    admin_api_key: str | None = Field(default=None, min_length=16, pattern=r"^[\x21-\x7e]+$")
    public_url: str | None = None
    # NoDecode: the comma-separated form is parsed by `_split_origins`, not as JSON first.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    auto_migrate: bool = True
    auth_cache_ttl: float = Field(
        default=5.0, ge=0, description="seconds a user/key lookup is reused"
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    rate_limits: str = DEFAULT_LIMITS
    stale_reply_seconds: float = Field(
        default=30.0, ge=0.5, description="an in_progress reply untouched this long is orphaned"
    )

    providers_file: Path | None = None
    secret_key: str | None = Field(
        default=None, min_length=16,
        description="key for encrypting provider API keys at rest (Fernet)",
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "PARLAY_OPENAI_BASE_URL")
    )
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "PARLAY_OPENAI_API_KEY")
    )
    default_model: str | None = None
    local_model: str = "bundled"
    local_threads: int | None = Field(default=None, ge=1)
    local_context: int = Field(default=4096, ge=256)
    local_queue_size: int = Field(default=8, ge=1)
    local_embedding_model: str = "bundled"
    memory_embedding_model: str | None = Field(
        default=None, description="embeddings model for memory; default: the local one")
    memory_max_per_user: int = Field(default=1000, ge=1, le=10_000)
    upstream_max_connections: int = Field(
        default=1000, ge=1, le=100_000,
        description="connections the OPENAI_BASE_URL provider may hold open at once")
    upstream_pool_timeout: float = Field(
        default=5.0, ge=0, le=600,
        description="seconds a request waits for one of them before 503 upstream_busy")

    # Tools (README: "Tools"): search backends, the scraper's allow-list, the sandbox.
    searxng_url: str | None = None
    brave_api_key: str | None = None
    tavily_api_key: str | None = None
    serper_api_key: str | None = None
    web_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    code_executor: str = Field(default="bwrap",
                               pattern=r"^(bwrap|off|sandboxfusion:https?://\S+)$")
    tool_timeout: float = Field(default=45.0, gt=0, le=600, description="seconds per call")

    @field_validator("redis_url", "jwt_secret", "admin_api_key", "public_url", "providers_file",
                     "secret_key", "openai_base_url", "openai_api_key", "default_model",
                     "searxng_url", "brave_api_key", "tavily_api_key", "serper_api_key",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(f"unsupported database scheme {scheme!r} (use sqlite or postgresql)")
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _parsable_database(cls, value: str) -> str:
        from sqlalchemy.engine import make_url

        try:
            make_url(to_async_url(value)).port  # noqa: B018 - a bad port only shows here
        except Exception as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _parsable_redis(cls, value: str | None) -> str | None:
        if value:
            from redis.connection import parse_url

            parse_url(value)  # raises ValueError naming the problem
        return value or None

    @field_validator("public_url", "openai_base_url", "searxng_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_base_url(value) if value else None

    @field_validator("openai_api_key")
    @classmethod
    def _api_key(cls, value: str | None) -> str | None:
        return check_api_key(value) if value else None

    @field_validator("local_embedding_model")
    @classmethod
    def _bundled_or_off(cls, value: str) -> str:
        # Only the bundled model exists (providers/local_embeddings.py): a path would be
        # silently ignored, so it is refused.
        if value.strip().lower() not in {"bundled", "off", "none", "false", "0", "disabled", ""}:
            raise ValueError("use `bundled` or `off`")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("rate_limits")
    @classmethod
    def _valid_limits(cls, value: str) -> str:
        parse_limits(value)
        return value

    @field_validator("cors_origins", "web_allowed_hosts", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Comma-separated (`http://a,http://b`), or a JSON list (`["http://a"]`)."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list: {exc}") from None
        return [entry.strip() for entry in value.split(",") if entry.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        return [check_origin(origin) for origin in value]

    @cached_property
    def async_database_url(self) -> str:
        return to_async_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.async_database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.async_database_url.partition("://")[2].split("?", 1)[0]
        path = path.removeprefix("/")  # sqlite:///relative, sqlite:////absolute, sqlite://
        return None if path in ("", ":memory:") else Path(path)

    @property
    def data_dir(self) -> Path:
        path = self.sqlite_path
        return path.parent if path is not None else Path("./data")

    def resolved_jwt_secret(self) -> str:
        """The configured secret, or one generated once and kept beside the SQLite file."""
        if self.jwt_secret:
            return self.jwt_secret
        return _persisted_secret(self.data_dir / "jwt_secret")

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _persisted_secret(self.data_dir / "secret_key")


def to_async_url(url: str) -> str:
    """Accept plain sqlite:/// and postgresql:// URLs and pick the async driver."""
    scheme, _, rest = url.partition("://")
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    return url


def _persisted_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def load_settings(**overrides: object) -> Settings:
    """Build Settings; turn validation errors into one readable ConfigError line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{env_name(str(err['loc'][0]))}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors() if err["loc"]
        )
        raise ConfigError(f"invalid configuration: {one_line(problems)}") from None
    except SettingsError as exc:  # a value its source could not even decode
        raise ConfigError(f"invalid configuration: {one_line(str(exc))}") from None


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field."""
    info = Settings.model_fields.get(field)
    if info is None:  # already an alias: OPENAI_BASE_URL
        return field
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"PARLAY_{field.upper()}"


def one_line(text: str) -> str:
    return " ".join(text.split())
