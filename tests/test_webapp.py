"""Serving the web app: `/` never cached under a strict CSP, assets under a content-hashed
prefix (immutable, gzipped), nothing else from the package directory."""

from __future__ import annotations

import gzip
import re

import httpx

from parlay.api.webapp import APP_CSP
from parlay.web.assets import accepts_gzip, build_id, current_build
from support.asserts import assert_error


def _asset_paths(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/assets/[^"]+)"', html)


async def test_index_is_never_cached_and_runs_only_parlays_scripts(
        client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == APP_CSP
    assert "script-src 'self';" in APP_CSP and "unsafe" not in APP_CSP
    assert "content-encoding" not in response.headers
    html = response.text
    assert re.findall(r"<script[^>]*>", html) == [
        f'<script src="/assets/{current_build().id}/theme.js">',
        f'<script type="module" src="/assets/{current_build().id}/app/main.js">']
    assert "</script>" in html and not re.search(r"<script[^>]*>[^<]", html)  # nothing inline
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from elsewhere


async def test_index_and_assets_are_gzipped_when_asked(client: httpx.AsyncClient) -> None:
    plain = await client.get("/", headers={"accept-encoding": "identity"})
    packed = await client.get("/", headers={"accept-encoding": "gzip, deflate"})
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert packed.text == plain.text  # httpx decoded it
    raw = await client.get("/", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in raw.headers


async def test_every_referenced_asset_is_served_immutable(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    paths = _asset_paths(html)
    assert len(paths) >= 12  # styles, the icon, every module preloaded
    build = current_build().id
    for path in paths:
        assert path.startswith(f"/assets/{build}/")
        response = await client.get(path, headers={"accept-encoding": "gzip"})
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        if path.endswith((".js", ".mjs")):
            assert response.headers["content-type"] == "text/javascript; charset=utf-8"
            assert response.headers["content-encoding"] == "gzip"
        identity = await client.get(path, headers={"accept-encoding": "identity"})
        assert identity.content == response.content  # the same bytes, decoded


async def test_gzip_bodies_are_the_files(client: httpx.AsyncClient) -> None:
    build = current_build()
    asset = build.assets["vendor/marked.esm.js"]
    assert asset.gzipped is not None and gzip.decompress(asset.gzipped) == asset.body
    assert len(asset.gzipped) < len(asset.body) / 2


async def test_other_builds_and_private_files_are_404(client: httpx.AsyncClient) -> None:
    build = current_build().id
    assert_error(await client.get("/assets/0123456789abcdef/app/main.js"), 404, "not_found")
    assert_error(await client.get(f"/assets/{build}/index.html"), 404)
    assert_error(await client.get(f"/assets/{build}/vendor/VENDORED.md"), 404)
    assert_error(await client.get(f"/assets/{build}/app/nope.js"), 404)
    assert_error(await client.get(f"/assets/{build}/%2e%2e/assets.py"), 404)  # a dict lookup
    assert (await client.get(f"/assets/{build}/vendor/highlight/languages/python.min.js")).status_code == 200


async def test_favicon(client: httpx.AsyncClient) -> None:
    response = await client.get("/favicon.ico")
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"


def test_build_id_changes_with_any_file() -> None:
    files = {"app/main.js": b"one", "app/app.css": b"two"}
    same = build_id(dict(reversed(list(files.items()))))
    assert build_id(files) == same
    assert build_id({**files, "app/main.js": b"one!"}) != same
    assert build_id({**files, "app/new.js": b""}) != same
    assert build_id({"app/main.js": b"one", "app/app.css2": b"two"}) != same


def test_accept_encoding() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("br, gzip;q=0.8")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("identity")
    assert not accepts_gzip(None)
