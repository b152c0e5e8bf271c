"""Operations: liveness, readiness, version, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from parlay import __version__
from parlay.api.deps import Context
from parlay.services.health import check_ready

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Version(BaseModel):
    version: str
    name: str = "parlay"


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"description": "DB unreachable"}})
async def readyz(ctx: Context) -> Health:
    await check_ready(ctx.engine)
    return Health(status="ready")


@router.get("/v1/version", response_model=Version)
async def version() -> Version:
    return Version(version=__version__)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
