"""The aiohttp client session behind each OpenAI-compatible provider.

One `ClientSession` per provider, with keep-alive pooling. Its connector also notes whether the
connection a request went out on was kept alive from an earlier request: only then may a
request the server hung up on be sent again (see `kept_alive_connection`).
"""

from __future__ import annotations

import sys
import weakref
from contextvars import ContextVar
from typing import Any

import aiohttp

# Idle connections are dropped after this long. Servers that close theirs sooner (uvicorn: 5 s)
# send a FIN the pool notices; the rare race with a request is retried by the provider.
KEEPALIVE_SECONDS = 30.0
# Closed TLS transports leak on these Pythons unless the connector cleans them up.
_TLS_CLOSE_LEAKS = sys.version_info < (3, 12, 7) or sys.version_info[:3] == (3, 13, 0)

_kept_alive: ContextVar[bool] = ContextVar("parlay_upstream_kept_alive", default=False)


def new_session(base_url: str, *, headers: dict[str, str], connect_timeout: float,
                read_timeout: float) -> aiohttp.ClientSession:
    """A session for one upstream; call inside the running event loop.

    The connector itself is unlimited: the provider caps requests in flight (its
    `max_connections` slots) before they reach it, so a full pool is a bounded wait and
    503 `upstream_busy`, never aiohttp's own wait counted as a connect timeout (502)."""
    connector = _KeepAliveAwareConnector(
        limit=0, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS,
        enable_cleanup_closed=_TLS_CLOSE_LEAKS and base_url.startswith("https:"),
    )
    # `connect` bounds DNS, TCP and TLS set-up; `sock_read` the silence between bytes, not
    # the whole answer.
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
    return aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),  # upstream cookies are not Parlay's to keep
        trust_env=False,
    )


def kept_alive_connection() -> bool:
    """Whether the last request made in this task went out on a kept-alive connection."""
    return _kept_alive.get()


class _KeepAliveAwareConnector(aiohttp.TCPConnector):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._used: weakref.WeakSet[Any] = weakref.WeakSet()  # protocols handed out before

    async def connect(
        self, req: Any, traces: Any, timeout: Any  # noqa: ASYNC109 - aiohttp's signature
    ) -> aiohttp.connector.Connection:
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        _kept_alive.set(protocol in self._used)
        self._used.add(protocol)
        return connection
