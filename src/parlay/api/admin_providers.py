"""Admin: upstream providers (keys encrypted at rest, never returned) and catalog edits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, Field, field_validator
from starlette.responses import Response

from parlay.api.deps import AdminUser, Context, SessionDep
from parlay.api.models import CatalogModel
from parlay.api.schemas import ERROR_RESPONSES, Data
from parlay.providers.config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_POOL_TIMEOUT,
    NAME_PATTERN,
    ModelId,
    ModelSpec,
)
from parlay.services.provider_admin import ProviderAdmin, ProviderView, spec_of
from parlay.urls import API_KEY_PATTERN, BASE_URL_PATTERN, check_base_url

router = APIRouter(prefix="/v1/admin", tags=["admin: providers"], responses=ERROR_RESPONSES)

MAX_CONNECTIONS_HELP = "upstream connections in use at once (each open stream holds one)"
POOL_TIMEOUT_HELP = ("seconds a request waits for a free connection at the cap before "
                     "503 upstream_busy")

ProviderId = Annotated[str, Path(pattern=NAME_PATTERN, description="provider id or name")]
BASE_URL_SCHEMA = {"format": "uri", "pattern": BASE_URL_PATTERN}


class ProviderCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    base_url: str = Field(min_length=1, max_length=2000, examples=["http://127.0.0.1:11434/v1"],
                          json_schema_extra=BASE_URL_SCHEMA)
    api_key: str | None = Field(default=None, pattern=API_KEY_PATTERN,
                                description="stored encrypted, never returned")
    timeout: float = Field(default=300.0, gt=0, le=3600)
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=0, ge=0, le=5)
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, ge=1, le=100_000,
                                 description=MAX_CONNECTIONS_HELP)
    pool_timeout: float = Field(default=DEFAULT_POOL_TIMEOUT, ge=0, le=600,
                                description=POOL_TIMEOUT_HELP)
    discover: bool = True
    models: list[ModelSpec | ModelId] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)


class ProviderUpdate(BaseModel):
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    base_url: str | None = Field(default=None, min_length=1, max_length=2000,
                                 json_schema_extra=BASE_URL_SCHEMA)
    api_key: str | None = Field(default=None, pattern=API_KEY_PATTERN,
                                description="a new key; null removes the stored key")
    timeout: float | None = Field(default=None, gt=0, le=3600)
    connect_timeout: float | None = Field(default=None, gt=0, le=120)
    retries: int | None = Field(default=None, ge=0, le=5)
    max_connections: int | None = Field(default=None, ge=1, le=100_000,
                                        description=MAX_CONNECTIONS_HELP)
    pool_timeout: float | None = Field(default=None, ge=0, le=600, description=POOL_TIMEOUT_HELP)
    discover: bool | None = None
    models: list[ModelSpec | ModelId] | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


def _http_url(value: str) -> str:
    check_base_url(value)
    return value


class ProviderOut(BaseModel):
    id: str
    object: Literal["provider"] = "provider"
    name: str
    source: Literal["env", "file", "admin", "local", "code"] | str
    read_only: bool
    base_url: str | None
    has_api_key: bool
    timeout: float | None
    connect_timeout: float | None
    retries: int | None
    max_connections: int | None
    pool_timeout: float | None
    discover: bool | None
    available: bool | None = Field(description="null until the provider was first reached")
    last_error: str | None
    last_synced_at: datetime | None
    configured_models: list[ModelSpec]
    models: list[str] = Field(description="ids of the models served through this provider")

    @classmethod
    def of(cls, view: ProviderView) -> ProviderOut:
        spec, entry = view.spec, view.entry
        synced = datetime.fromtimestamp(entry.synced_at, UTC) if entry.synced_at else None
        return cls(
            id=view.id, name=view.name, source=view.source, read_only=view.read_only,
            base_url=spec.base_url if spec else None, has_api_key=view.has_api_key,
            timeout=spec.timeout if spec else None,
            connect_timeout=spec.connect_timeout if spec else None,
            retries=spec.retries if spec else None,
            max_connections=spec.max_connections if spec else None,
            pool_timeout=spec.pool_timeout if spec else None,
            discover=spec.discover if spec else None,
            available=entry.reachable, last_error=entry.last_error, last_synced_at=synced,
            configured_models=spec.models if spec else [], models=[m.id for m in view.models],
        )


class CatalogUpdate(BaseModel):
    enabled: bool | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    capabilities: list[Annotated[str, Field(min_length=1, max_length=50)]] | None = Field(
        default=None, max_length=50)


async def get_provider_admin(ctx: Context, session: SessionDep) -> ProviderAdmin:
    return ProviderAdmin(session, ctx.gateway)


Admin = Annotated[ProviderAdmin, Depends(get_provider_admin)]


@router.get("/providers", response_model=Data[list[ProviderOut]])
async def list_providers(_admin: AdminUser, providers: Admin) -> Data[list[ProviderOut]]:
    return Data(data=[ProviderOut.of(v) for v in providers.list()])


@router.post("/providers", response_model=Data[ProviderOut],
             status_code=status.HTTP_201_CREATED)
async def create_provider(_admin: AdminUser, providers: Admin,
                          body: ProviderCreate) -> Data[ProviderOut]:
    spec = spec_of(body.model_dump(exclude={"api_key"}))
    return Data(data=ProviderOut.of(await providers.create(spec, body.api_key)))


@router.get("/providers/{provider_id}", response_model=Data[ProviderOut])
async def get_provider(_admin: AdminUser, providers: Admin,
                       provider_id: ProviderId) -> Data[ProviderOut]:
    return Data(data=ProviderOut.of(providers.get(provider_id)))


@router.patch("/providers/{provider_id}", response_model=Data[ProviderOut])
async def update_provider(_admin: AdminUser, providers: Admin, provider_id: ProviderId,
                          body: ProviderUpdate) -> Data[ProviderOut]:
    changes: dict[str, Any] = {k: getattr(body, k) for k in body.model_fields_set}
    changes = {k: v for k, v in changes.items() if v is not None or k == "api_key"}
    if "models" in changes:
        changes["models"] = [m if isinstance(m, str) else m.model_dump() for m in
                             changes["models"]]
    return Data(data=ProviderOut.of(await providers.update(provider_id, changes)))


@router.delete("/providers/{provider_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
async def delete_provider(_admin: AdminUser, providers: Admin, provider_id: ProviderId) -> Response:
    await providers.delete(provider_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/providers/{provider_id}/sync", response_model=Data[ProviderOut])
async def sync_provider(_admin: AdminUser, providers: Admin,
                        provider_id: ProviderId) -> Data[ProviderOut]:
    """Ask the upstream for its models now; `available`/`last_error` tell how it went."""
    return Data(data=ProviderOut.of(await providers.sync(provider_id)))


@router.patch("/models/catalogs/{model_id:path}", response_model=Data[CatalogModel])
async def update_catalog_model(
    ctx: Context, _admin: AdminUser, providers: Admin, body: CatalogUpdate,
    model_id: Annotated[str, Path(max_length=300)],
) -> Data[CatalogModel]:
    info = await providers.update_model(model_id, enabled=body.enabled, name=body.name,
                                        capabilities=body.capabilities)
    return Data(data=CatalogModel.of(info, ctx.providers))
