"""The web app: `/` (index.html, never cached) and `/assets/<build>/<path>` (immutable).

Files are read, hashed and gzipped once per process (`parlay.web.assets`); a request is a dict
lookup. The router is included last, so API routes are matched before it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path
from starlette.responses import Response

from parlay.errors import NotFound
from parlay.web.assets import Build, accepts_gzip, current_build

router = APIRouter(include_in_schema=False)

# The app's own scripts and styles only: no inline script or style, nothing from elsewhere.
APP_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
                    "x-frame-options": "DENY"}
IMMUTABLE = "public, max-age=31536000, immutable"


def _body(plain: bytes, packed: bytes | None, accept_encoding: str | None,
          headers: dict[str, str]) -> bytes:
    if packed is not None:
        headers["vary"] = "Accept-Encoding"
        if accepts_gzip(accept_encoding):
            headers["content-encoding"] = "gzip"
            return packed
    return plain


@router.get("/")
async def index(accept_encoding: Annotated[str | None, Header()] = None) -> Response:
    build: Build = current_build()
    headers = {**SECURITY_HEADERS, "content-security-policy": APP_CSP,
               "cache-control": "no-cache"}
    body = _body(build.index_html, build.index_gzipped, accept_encoding, headers)
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/assets/{build_id}/{path:path}")
async def asset(build_id: Annotated[str, Path(max_length=64)],
                path: Annotated[str, Path(max_length=300)],
                accept_encoding: Annotated[str | None, Header()] = None) -> Response:
    """Only the current build is served: an old page asking for an old build's file gets 404
    rather than a mix of versions (index.html is never cached, so a reload fixes it)."""
    build = current_build()
    found = build.assets.get(path) if build_id == build.id else None
    if found is None:
        raise NotFound("no such asset in this build of the web app")
    headers = {**SECURITY_HEADERS, "cache-control": IMMUTABLE}
    body = _body(found.body, found.gzipped, accept_encoding, headers)
    return Response(body, media_type=found.content_type, headers=headers)


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it on every page (the API docs too); the app's icon, as SVG."""
    icon = current_build().assets["icon.svg"]
    return Response(icon.body, media_type=icon.content_type,
                    headers={**SECURITY_HEADERS, "cache-control": "public, max-age=86400"})
