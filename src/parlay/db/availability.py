"""Which database errors mean "the database can't serve right now" (a 503 the client may
retry) rather than a bug in a statement (a 500). One answer for the ORM and the driver paths."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy import exc as sa_exc

# SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many
# connections, out of memory/disk), 57P operator intervention (shutdown, starting up).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
_UNAVAILABLE_NAMES = frozenset({
    "ConnectionDoesNotExistError", "CannotConnectNowError", "AdminShutdownError",
    "InterfaceError", "ConnectionFailureError", "TooManyConnectionsError",
})


def is_unavailable(exc: BaseException) -> bool:
    """True for lost, refused or exhausted connections, anywhere in the cause chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable_here(current):
            return True
        current = current.__cause__ or getattr(current, "orig", None)
    return False


def _unavailable_here(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, ConnectionError, asyncio.TimeoutError, sa_exc.TimeoutError,
                        sqlite3.OperationalError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and (
            exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError)):
        return True
    if type(exc).__name__ in _UNAVAILABLE_NAMES:
        return True
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
