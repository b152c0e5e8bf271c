"""`parlay serve | migrate | admin create-key`."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from typing import Any

from parlay.config import ConfigError, Settings, load_settings, one_line


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        # Command-line values go through the same validation as the environment's.
        overrides = {name: value for name in ("host", "port", "workers")
                     if (value := getattr(args, name, None)) is not None}
        settings = load_settings(**overrides)
        args.handler(settings, args)
    except ConfigError as exc:
        print(f"parlay: {one_line(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parlay", description="Parlay LLM API server")
    sub = parser.add_subparsers(required=True, metavar="command")

    serve = sub.add_parser("serve", help="migrate the database, then serve HTTP")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(handler=_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(handler=_migrate)

    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(required=True, metavar="action")
    create_key = admin_sub.add_parser("create-key", help="create a user with an API key")
    create_key.add_argument("--admin", action="store_true", help="give the user the admin role")
    create_key.add_argument("--name", default="cli")
    create_key.set_defaults(handler=_create_key)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from parlay.banner import ReadyServer, base_url
    from parlay.observability import configure_logging
    from parlay.providers.local import local_model_path

    host, port, workers = settings.host, settings.port, settings.workers
    configure_logging(settings.log_level)
    # Everything a worker would trip over at start-up fails here instead, in one line.
    local_model_path(settings, warn=False)
    if settings.is_sqlite and settings.sqlite_path is None:
        raise ConfigError("PARLAY_DATABASE_URL: in-memory SQLite is not supported (every "
                          "connection and worker must see the same database); use a file, "
                          "sqlite:///path")
    _check_providers(settings)
    _check_listen(host, port)
    asyncio.run(_run_migrations(settings))
    # Migrations ran once above; workers must not race each other doing it again.
    os.environ["PARLAY_AUTO_MIGRATE"] = "false"
    options: dict[str, Any] = dict(
        host=host, port=port, workers=workers, factory=False, access_log=False,
        log_config=None, timeout_graceful_shutdown=10,
    )
    if workers == 1:  # one process: it can tell when it is ready and print the examples
        ReadyServer(uvicorn.Config("parlay.main:app", **options), base_url(host, port)).run()
    else:
        uvicorn.run("parlay.main:app", **options)


def _check_providers(settings: Settings) -> None:
    from parlay.providers.config import load_providers_file

    if settings.providers_file is not None:
        for spec in load_providers_file(settings.providers_file).providers:
            spec.resolved_api_key()  # an api_key_env holding a bad key


def _check_listen(host: str, port: int) -> None:
    """Bind once and let go: an unusable host or a taken port is one line, not a traceback."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        raise ConfigError(f"PARLAY_HOST/PARLAY_PORT: cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc}") from None


def _migrate(settings: Settings, _args: argparse.Namespace) -> None:
    asyncio.run(_run_migrations(settings))
    print("parlay: database is up to date")


async def _run_migrations(settings: Settings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from parlay.db import migrate
    from parlay.db.engine import make_engine

    try:
        if settings.sqlite_path is not None:
            settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.async_database_url)
    except OSError as exc:
        raise ConfigError(f"PARLAY_DATABASE_URL: cannot create {settings.sqlite_path}: "
                          f"{exc.strerror or exc}") from None
    try:
        await migrate.upgrade(engine)
    except (OSError, SQLAlchemyError) as exc:
        cause = getattr(exc, "orig", None) or exc  # the driver's own words, not SQLAlchemy's
        first = one_line(str(cause).split("\n", 1)[0]) or type(cause).__name__
        raise ConfigError(f"PARLAY_DATABASE_URL: cannot use the database: {first}") from None
    finally:
        await engine.dispose()


def _create_key(settings: Settings, args: argparse.Namespace) -> None:
    print(asyncio.run(_new_key(settings, admin=args.admin, name=args.name)))


async def _new_key(settings: Settings, *, admin: bool, name: str) -> str:
    from parlay.db.engine import make_engine, make_sessionmaker
    from parlay.services.accounts import create_admin_cli_key

    await _run_migrations(settings)
    engine = make_engine(settings.async_database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await create_admin_cli_key(session, admin=admin, name=name)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main()
