"""Operator commands: accounts, tokens, the schema and backups, straight in the database.

They open the database directly, so they work whether the server runs or not (see
`wahooks.cli.operator_database` for which database and what they refuse).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from wahooks.cli.operator_database import (
    OperatorError,
    database_errors,
    database_option,
    database_problem,
    describe_database,
    require_existing_database,
    say_database,
    settings_from,
    with_accounts,
)
from wahooks.cli.root import main

if TYPE_CHECKING:
    from wahooks.accounts import Accounts

@main.group()
def token() -> None:
    """Operator: API tokens, straight in the database."""


@token.command("create")
@click.option("--name", required=True, help="A name to recognise the token by")
@database_option
def token_create(name: str, database: str | None) -> None:
    """Print a new API token for the owner account."""
    settings = settings_from(database=database)

    async def work(accounts: Accounts) -> str:
        owner = await accounts.owner_or_create()
        return (await accounts.create_token(owner, name)).raw

    click.echo(with_accounts(settings, work))


@main.group()
def user() -> None:
    """Operator: accounts, straight in the database."""


@user.command("create")
@click.option("--name", required=True, help="The account's name (unique)")
@database_option
def user_create(name: str, database: str | None) -> None:
    """Add an isolated account and print its first API token."""
    settings = settings_from(database=database)

    async def work(accounts: Accounts) -> tuple[str, str] | None:
        if await accounts.user_named(name) is not None:
            return None
        new_user, new_token = await accounts.create_user(name)
        return new_user.id, new_token.raw

    created = with_accounts(settings, work)
    if created is None:
        raise OperatorError(f"An account named {name!r} already exists; choose another name.")
    user_id, raw = created
    click.echo(f"Created account {name} ({user_id}). Its API token (shown once):", err=True)
    click.echo(raw)


@main.command()
@database_option
def migrate(database: str | None) -> None:
    """Create or upgrade the database schema, then exit."""
    settings = settings_from(database=database)
    from wahooks.logs import configure

    configure("info")  # each migration applied is logged, so an upgrade says what it did

    async def work(accounts: Accounts) -> None:
        return None

    with_accounts(settings, work, create=True)
    click.echo(f"{describe_database(settings)} is up to date.", err=True)


@main.group()
def db() -> None:
    """Operator: back up and move the database."""


@db.command("copy")
@click.option("--from", "source", required=True, help="The SQLite file to copy from")
@click.option("--to", "destination", required=True, help="An empty PostgreSQL database URL")
def db_copy(source: str, destination: str) -> None:
    """Copy a SQLite installation (accounts, tokens, connections, webhooks, logs) to PostgreSQL.

    Stop the server first; then start it with WAHOOKS_DATABASE set to the PostgreSQL URL.
    """
    from_settings = settings_from(database=source)
    to_settings = settings_from(database=destination)
    from wahooks.app import DatabaseInUse, lock_database
    from wahooks.storage.copy import copy_sqlite_to_postgres

    if not to_settings.uses_postgres:
        raise click.UsageError("--to must be a postgresql:// URL")
    if from_settings.uses_postgres:
        raise click.UsageError("--from must be a SQLite file")
    source_path = from_settings.sqlite_path
    if not Path(source_path).is_file():
        raise OperatorError(f"No SQLite database at {Path(source_path).resolve()}")
    click.echo(f"From: {describe_database(from_settings)}", err=True)
    click.echo(f"To:   {describe_database(to_settings)}", err=True)
    try:
        lock_database(source_path)
        counts = asyncio.run(copy_sqlite_to_postgres(source_path, destination))
    except DatabaseInUse as exc:
        raise OperatorError(f"{exc}: stop the server before copying.") from None
    except database_errors() as exc:
        raise OperatorError(database_problem(to_settings, exc)) from None
    except Exception as exc:  # the copy's own refusals (a non-empty destination): one line
        from wahooks.errors import WahooksError

        if isinstance(exc, WahooksError):
            raise OperatorError(str(exc)) from None
        raise
    for table, count in counts.items():
        click.echo(f"  {table:<12} {count:>9,}", err=True)
    click.echo("Copied. Start the server with WAHOOKS_DATABASE=<the PostgreSQL URL>.", err=True)


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_option
def db_backup(file: Path, database: str | None) -> None:
    """Write a consistent copy of the SQLite database to FILE, safe while the server runs.

    Uses SQLite's online backup API, which copies committed pages only; copying the .db file by
    hand while the server writes can miss what still sits in the -wal file. Restore by stopping
    the server and putting FILE in the database's place (see docs/operations.md). For PostgreSQL
    use pg_dump.
    """
    settings = settings_from(database=database)
    if settings.uses_postgres:
        raise OperatorError(
            "db backup copies a SQLite database; back up PostgreSQL with pg_dump"
            " (see docs/operations.md)."
        )
    require_existing_database(settings)
    say_database(settings)
    target = file.resolve()
    if target.exists():
        raise OperatorError(f"{target} already exists; choose a new file name.")
    if not target.parent.is_dir():
        raise OperatorError(f"The folder {target.parent} does not exist.")
    started = time.monotonic()
    try:
        pages = _backup_sqlite(settings.sqlite_path, target)
    except FileExistsError:
        raise OperatorError(f"{target} already exists; choose a new file name.") from None
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise OperatorError(f"Backup failed: {exc}") from None
    click.echo(
        f"Backed up to {target} ({pages:,} pages, {target.stat().st_size:,} bytes,"
        f" {time.monotonic() - started:.1f} s).",
        err=True,
    )


def _backup_sqlite(source_path: str, target: Path) -> int:
    # Read-only URI: a backup never changes the database (nor creates one).
    # The copy holds every token hash and signing secret: private from its first byte.
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    source = sqlite3.connect(f"file:{Path(source_path).resolve()}?mode=ro", uri=True)
    try:
        destination = sqlite3.connect(target)
        try:
            # Steps of 1024 pages let the server's writer commit between them; a write during
            # the backup restarts it from the source's new state, so the copy is consistent.
            source.backup(destination, pages=1024, sleep=0.005)
            destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            pages = int(destination.execute("PRAGMA page_count").fetchone()[0])
            check = destination.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"the copy fails its integrity check: {check}")
        finally:
            destination.close()
    finally:
        source.close()
    return pages

