"""Operator commands: run the server; accounts, tokens and the schema straight in the database.

They open the database directly, so they work whether the server runs or not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from wahooks import __version__
from wahooks.accounts import Accounts
from wahooks.cli.root import main
from wahooks.config import Settings
from wahooks.errors import WahooksError

T = TypeVar("T")


def _settings(**flags: Any) -> Settings:
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic's ValidationError, shown as one clear line
        raise click.UsageError(str(exc)) from None


database_option = click.option(
    "--database", help="SQLite file path or sqlite:///path [env WAHOOKS_DATABASE; wahooks.db]"
)


@main.command()
@click.option("--host", help="Interface to listen on [env WAHOOKS_HOST; 127.0.0.1]")
@click.option("--port", type=int, help="Port to listen on [env WAHOOKS_PORT; 3001]")
@database_option
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
    """Run the API, the sandbox engine and the delivery worker in one process."""
    import uvicorn

    from wahooks.app import create_app, lock_database
    from wahooks.logs import configure

    settings = _settings(**flags)
    configure(settings.log_level)
    try:
        lock_database(settings.sqlite_path)
    except WahooksError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"wahooks {__version__} on http://{settings.host}:{settings.port}/api"
        f" (database {settings.sqlite_path}, engine {settings.engine})",
        err=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        log_config=None,
        proxy_headers=False,  # wahooks reads no client addresses; the middleware costs per request
        timeout_graceful_shutdown=10,
    )


def _with_store(settings: Settings, work: Callable[[Accounts], Awaitable[T]]) -> T:
    from wahooks.storage.sqlite import SqliteStore

    async def run() -> T:
        store = SqliteStore(settings.sqlite_path)
        await store.open()
        try:
            return await work(Accounts(store))
        finally:
            await store.close()

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
    click.echo(f"Database {settings.sqlite_path} is up to date.", err=True)

