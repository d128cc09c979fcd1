"""Operator commands: run the server; accounts, tokens and the schema straight in the database.

They open the database directly, so they work whether the server runs or not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from wahooks.accounts import Accounts
from wahooks.cli.root import main
from wahooks.config import Settings
from wahooks.errors import WahooksError
from wahooks.version import __version__

T = TypeVar("T")


def _settings(**flags: Any) -> Settings:
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic's ValidationError, shown as one clear line
        raise click.UsageError(str(exc)) from None


database_option = click.option(
    "--database",
    "--database-url",
    "database",
    help="SQLite file path, or a postgresql:// URL [env WAHOOKS_DATABASE or WAHOOKS_DATABASE_URL;"
    " wahooks.db]",
)


@main.command()
@click.option("--host", help="Interface to listen on [env WAHOOKS_HOST; 127.0.0.1]")
@click.option("--port", type=int, help="Port to listen on [env WAHOOKS_PORT; 3001]")
@database_option
@click.option(
    "--role",
    type=click.Choice(["all", "api", "worker"]),
    help="all: API and delivery; api: API only; worker: delivery only (PostgreSQL)"
    " [env WAHOOKS_ROLE; all]",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Logging threshold [env WAHOOKS_LOG_LEVEL; info]",
)
@click.option(
    "--allow-private-targets",
    is_flag=True,
    default=None,
    help="Deliver to loopback/private/link-local addresses, for local development"
    " [env WAHOOKS_ALLOW_PRIVATE_TARGETS; off]",
)
def serve(**flags: Any) -> None:
    """Run the API, the WhatsApp engine and the delivery worker (by default all in one process)."""
    import uvicorn
    import uvloop

    from wahooks.api.http_limits import http_limits, limited_protocol, raise_fd_limit
    from wahooks.app import create_app, lock_database, run_worker
    from wahooks.logs import configure

    settings = _settings(**flags)
    configure(settings.log_level)
    if not settings.uses_postgres:
        try:
            lock_database(settings.sqlite_path)
        except WahooksError as exc:
            raise click.ClickException(str(exc)) from None
    if settings.role == "worker":
        click.echo(f"wahooks {__version__} delivery worker ({_where(settings)})", err=True)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_worker(settings))
        return
    click.echo(
        f"wahooks {__version__} on http://{settings.host}:{settings.port}/api"
        f" ({_where(settings)}, engine {settings.engine}, role {settings.role})",
        err=True,
    )
    raise_fd_limit()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=limited_protocol(http_limits(settings)),
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        log_config=None,
        proxy_headers=False,  # wahooks reads no client addresses; the middleware costs per request
        timeout_graceful_shutdown=10,
    )


def _where(settings: Settings) -> str:
    if settings.uses_postgres:
        host = settings.database.split("@")[-1].split("?")[0]  # never print a password
        return f"database postgresql://…@{host}"
    return f"database {settings.sqlite_path}"


def _with_store(settings: Settings, work: Callable[[Accounts], Awaitable[T]]) -> T:
    from wahooks.storage import open_storage

    async def run() -> T:
        storage = open_storage(settings)
        await storage.open()
        try:
            return await work(Accounts(storage.accounts))
        finally:
            await storage.close()

    return asyncio.run(run())


@main.group()
def token() -> None:
    """Operator: API tokens, straight in the database."""


@token.command("create")
@click.option("--name", required=True, help="A name to recognise the token by")
@database_option
def token_create(name: str, database: str | None) -> None:
    """Print a new API token for the owner account."""
    settings = _settings(database=database)

    async def work(accounts: Accounts) -> str:
        owner = await accounts.owner_or_create()
        return (await accounts.create_token(owner, name)).raw

    click.echo(_with_store(settings, work))


@main.group()
def user() -> None:
    """Operator: accounts, straight in the database."""


@user.command("create")
@click.option("--name", required=True, help="The account's name")
@database_option
def user_create(name: str, database: str | None) -> None:
    """Add an isolated account and print its first API token."""
    settings = _settings(database=database)

    async def work(accounts: Accounts) -> tuple[str, str]:
        new_user, new_token = await accounts.create_user(name)
        return new_user.id, new_token.raw

    user_id, raw = _with_store(settings, work)
    click.echo(f"Created account {name} ({user_id}). Its API token (shown once):", err=True)
    click.echo(raw)


@main.command()
@database_option
def migrate(database: str | None) -> None:
    """Create or upgrade the database schema, then exit."""
    settings = _settings(database=database)

    async def work(accounts: Accounts) -> None:
        return None

    _with_store(settings, work)
    click.echo(f"{_where(settings).capitalize()} is up to date.", err=True)


@main.group()
def db() -> None:
    """Operator: move the database."""


@db.command("copy")
@click.option("--from", "source", required=True, help="The SQLite file to copy from")
@click.option("--to", "destination", required=True, help="An empty PostgreSQL database URL")
def db_copy(source: str, destination: str) -> None:
    """Copy a SQLite installation (accounts, tokens, connections, webhooks, logs) to PostgreSQL.

    Stop the server first; then start it with WAHOOKS_DATABASE set to the PostgreSQL URL.
    """
    from wahooks.app import lock_database
    from wahooks.storage.copy import copy_sqlite_to_postgres

    source_path = _settings(database=source).sqlite_path
    if not _settings(database=destination).uses_postgres:
        raise click.UsageError("--to must be a postgresql:// URL")
    if not Path(source_path).is_file():
        raise click.ClickException(f"No SQLite database at {source_path}")
    try:
        lock_database(source_path)
        counts = asyncio.run(copy_sqlite_to_postgres(source_path, destination))
    except WahooksError as exc:
        raise click.ClickException(str(exc)) from None
    for table, count in counts.items():
        click.echo(f"  {table:<12} {count:>9,}", err=True)
    click.echo("Copied. Start the server with WAHOOKS_DATABASE=<the PostgreSQL URL>.", err=True)
