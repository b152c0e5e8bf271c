"""URL shapes Parlay accepts in settings and the admin API (upstreams, public URL, origins)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Visible ASCII only: an API key goes into an HTTP header (no CR/LF injection, no encoding issue).
API_KEY_PATTERN = r"^[\x21-\x7e]{1,4096}$"
# What `check_base_url` accepts, for schemas: http(s), a host, a path; ASCII, no query/fragment.
_URL_CHARS = r"A-Za-z0-9._~%!$&'()*+,;=:@\[\]-"
BASE_URL_PATTERN = rf"^[hH][tT][tT][pP][sS]?://[{_URL_CHARS}]+(?:/[/{_URL_CHARS}]*)?$"


def check_base_url(value: str) -> str:
    """An http(s) URL with a host, plain ASCII; returned without its trailing slash."""
    if not value.isascii() or any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("must be plain ASCII without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"invalid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value.rstrip("/")


def check_origin(value: str) -> str:
    """A browser origin as it appears in the Origin header (`scheme://host[:port]`), or `*`."""
    if value == "*":
        return value
    check_base_url(value)
    if urlsplit(value).path:
        raise ValueError(f"origin {value!r} must be scheme://host[:port] without a path "
                         "(browsers send no path or trailing slash)")
    return value


def check_api_key(value: str) -> str:
    if not re.fullmatch(API_KEY_PATTERN, value):
        raise ValueError("must be visible ASCII (no spaces or control characters), "
                         "1-4096 characters")
    return value
