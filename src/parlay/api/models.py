"""GET /v1/models (OpenAI list) and /v1/models/catalogs (Parlay's richer catalog)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from parlay.api.deps import Context, CurrentUser
from parlay.api.schemas import ERROR_RESPONSES, Data
from parlay.errors import NotFound
from parlay.providers.base import ModelInfo
from parlay.providers.registry import ProviderRegistry

router = APIRouter(tags=["models"], responses=ERROR_RESPONSES)


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class OpenAIModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


class CatalogModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    name: str
    provider: str
    upstream_id: str
    available: bool
    enabled: bool
    local: bool
    capabilities: list[str]
    context_length: int | None
    supported_parameters: list[str]
    owned_by: str
    created: int

    @classmethod
    def of(cls, info: ModelInfo, registry: ProviderRegistry, browser: bool = False
           ) -> CatalogModel:
        capabilities = list(info.capabilities)
        if browser and "tools" in capabilities and "browser" not in capabilities:
            capabilities.append("browser")  # it can browse through Parlay's web tools
        return cls(id=info.id, name=info.name or info.id, provider=info.provider,
                   upstream_id=info.upstream_id, available=registry.is_available(info),
                   enabled=info.enabled, local=info.local, capabilities=capabilities,
                   context_length=info.context_length,
                   supported_parameters=info.supported_parameters,
                   owned_by=info.owned_by or info.provider, created=info.created)


def _openai_model(info: ModelInfo) -> OpenAIModel:
    return OpenAIModel(id=info.id, created=info.created, owned_by=info.owned_by or info.provider)


@router.get("/v1/models", response_model=OpenAIModelList,
            summary="Models that can be used now (OpenAI shape)")
async def list_models(ctx: Context, _user: CurrentUser) -> OpenAIModelList:
    registry: ProviderRegistry = ctx.providers
    return OpenAIModelList(data=[_openai_model(m) for m in registry.models()
                                 if registry.is_available(m)])


@router.get("/v1/models/catalogs", response_model=Data[list[CatalogModel]],
            summary="Every known model with provider, availability and capabilities")
async def list_catalog(
    ctx: Context,
    _user: CurrentUser,
    capability: Annotated[str | None, Query(max_length=100, description="e.g. browser, "
                                                                      "tools, vision")] = None,
    provider: Annotated[str | None, Query(max_length=100)] = None,
    available: bool | None = None,
) -> Data[list[CatalogModel]]:
    registry: ProviderRegistry = ctx.providers
    browser = await ctx.tools.browser_ready()
    entries = [CatalogModel.of(m, registry, browser) for m in registry.models()]
    entries = [e for e in entries
               if (capability is None or capability in e.capabilities)
               and (provider is None or e.provider == provider)
               and (available is None or e.available == available)]
    return Data(data=entries)


@router.get("/v1/models/catalogs/{model_id:path}", response_model=Data[CatalogModel])
async def get_catalog_model(
    ctx: Context, _user: CurrentUser, model_id: Annotated[str, Path(max_length=300)]
) -> Data[CatalogModel]:
    registry: ProviderRegistry = ctx.providers
    return Data(data=CatalogModel.of(_known(registry, model_id), registry,
                                     await ctx.tools.browser_ready()))


@router.get("/v1/models/{model_id:path}", response_model=OpenAIModel,
            summary="One model (OpenAI shape)")
async def get_model(
    ctx: Context, _user: CurrentUser, model_id: Annotated[str, Path(max_length=300)]
) -> OpenAIModel:
    registry: ProviderRegistry = ctx.providers
    info = registry.resolve(model_id).info
    return OpenAIModel(id=model_id, created=info.created, owned_by=info.owned_by or info.provider)


def _known(registry: ProviderRegistry, model_id: str) -> ModelInfo:
    info = registry.get(model_id)
    if info is None:
        try:
            info = registry.resolve(model_id).info  # an alias
        except NotFound:
            raise NotFound(f"model {model_id!r} is not in the catalog",
                           code="model_not_found", param="model") from None
    return info
