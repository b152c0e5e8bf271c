"""Operations: liveness, readiness, version, Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.responses import Response

from parlay import __version__
from parlay.api.deps import Context
from parlay.errors import ServiceUnavailable

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
    try:
        async with asyncio.timeout(2), ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}",
                                 code="database_unavailable") from None
    return Health(status="ready")


@router.get("/v1/version", response_model=Version)
async def version() -> Version:
    return Version(version=__version__)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
