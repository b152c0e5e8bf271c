"""The web app's static files, loaded once per process: content-hashed URLs, gzipped in memory.

Every file under `web/static/` is served at `/assets/<build>/<path>`, where `<build>` is a hash
of all of them: a change to any file gives every URL a new prefix, so assets can be cached
forever (`immutable`) while `index.html` (served at `/`, never cached) names the current build.
One prefix for all files keeps relative ES-module imports (`./chat.js`) working unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from string import Template

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
COMPRESSIBLE = {".js", ".mjs", ".css", ".svg", ".html", ".json"}
# Not served: documentation beside the vendored files, and the page template itself.
PRIVATE_SUFFIXES = (".md",)
PRIVATE_NAMES = {"index.html"}
# Loaded by index.html on every first visit; preloaded so imports do not wait on each other.
ENTRY_MODULE = "app/main.js"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str


@dataclass(frozen=True, slots=True)
class Build:
    id: str
    assets: dict[str, Asset]
    index_html: bytes
    index_gzipped: bytes


def _walk(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            files.update(_walk(entry, name + "/"))
        elif entry.is_file():
            files[name] = entry.read_bytes()
    return files


def _suffix(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:] if dot > path.rfind("/") else ""


def _asset(path: str, body: bytes) -> Asset:
    suffix = _suffix(path)
    packed = gzip.compress(body, 9, mtime=0) if suffix in COMPRESSIBLE else None
    if packed is not None and len(packed) >= len(body):
        packed = None
    return Asset(body, packed, CONTENT_TYPES.get(suffix, "application/octet-stream"))


def build_id(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return digest.hexdigest()[:16]


def _preloads(files: dict[str, bytes], base: str) -> str:
    """<link rel=modulepreload> for every module the app imports at start: the browser fetches
    them in parallel instead of discovering each import only after its parent arrived.
    Modules in subfolders (app/admin/, highlighting grammars) load on demand."""
    modules = sorted(p for p in files if p.endswith((".js", ".mjs")) and p != ENTRY_MODULE
                     and ((p.count("/") == 1 and p.startswith(("app/", "vendor/")))
                          or p == "vendor/highlight/core.min.js"))
    return "\n".join(f'<link rel="modulepreload" href="{base}/{p}">' for p in modules)


@cache
def current_build() -> Build:
    root = resources.files("parlay").joinpath("web/static")
    files = _walk(root)
    build = build_id(files)
    base = f"/assets/{build}"
    template = Template(files["index.html"].decode())
    index = template.substitute(base=base, preloads=_preloads(files, base)).encode()
    served = {path: _asset(path, body) for path, body in files.items()
              if path not in PRIVATE_NAMES and not path.endswith(PRIVATE_SUFFIXES)}
    return Build(build, served, index, gzip.compress(index, 9, mtime=0))


def accepts_gzip(accept_encoding: str | None) -> bool:
    if not accept_encoding:
        return False
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
