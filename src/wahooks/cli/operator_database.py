"""The database an operator command opens: settings read with clear errors, which database it is,
whether it exists, and one-line failures instead of tracebacks.

Only `serve` and `migrate` may create a database: every other command refuses one that does not
exist yet, so a command typed in the wrong folder cannot make a second, empty installation. Each
says which database it used, on stderr. They need the server extra; the light install has the client
commands only, and these say so instead of failing on an import.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

if TYPE_CHECKING:
    from wahooks.accounts import Accounts
    from wahooks.config import Settings

T = TypeVar("T")


SERVER_EXTRA_HINT = "pip install 'wahooks-server[server]'"


# Flags of `serve` for each setting, so an error names what the user can actually type.
_FLAGS = {
    "host": "--host", "port": "--port", "database": "--database", "role": "--role",
    "log_level": "--log-level", "allow_private_targets": "--allow-private-targets",
    "metrics_port": "--metrics-port",
}


class OperatorError(click.ClickException):
    """One line on stderr (`Error: ...`), exit 1: what went wrong, where, what to do."""


def require_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import pydantic_settings  # noqa: F401
    except ImportError as exc:
        raise OperatorError(
            f"This command runs the server side and needs its packages ({exc.name} is missing):"
            f" {SERVER_EXTRA_HINT}"
        ) from None


def settings_from(**flags: Any) -> Settings:
    require_server_extra()
    from pydantic import ValidationError

    from wahooks.config import Settings

    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise OperatorError(settings_problem(exc)) from None


def settings_problem(exc: Any) -> str:
    """A pydantic ValidationError as the sentences that say what to set, without its internals
    (input values, documentation links)."""
    sentences = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = str(error["loc"][0]) if error["loc"] else ""
        if field:
            name = field if field.startswith("WAHOOKS_") else f"WAHOOKS_{field.upper()}"
            flag = _FLAGS.get(field.lower().removeprefix("wahooks_"))
            sentences.append(f"{name}{f' ({flag})' if flag else ''}: {message}")
        else:
            sentences.append(message)
    return "; ".join(sentences)


def describe_database(settings: Settings) -> str:
    """The database in words, never with a password."""
    if settings.uses_postgres:
        from wahooks.storage.postgres import split_schema

        dsn, schema = split_schema(settings.database)
        parts = urlsplit(dsn)
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        shown = f"postgresql://{user}{parts.hostname or ''}{port}{parts.path}"
        return f"PostgreSQL {shown}" + (f" (schema {schema})" if schema else "")
    return f"SQLite {Path(settings.sqlite_path).resolve()}"


def say_database(settings: Settings) -> None:
    click.echo(f"Database: {describe_database(settings)}", err=True)


def database_problem(settings: Settings, exc: BaseException) -> str:
    where = describe_database(settings)
    if settings.uses_postgres:
        return (f"Cannot use {where}: {exc or type(exc).__name__}. Check that PostgreSQL runs"
                " there and that the URL (user, database name) is right.")
    return f"Cannot open {where}: {exc or type(exc).__name__}."


def database_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError,
            asyncio.TimeoutError)


def check_sqlite_folder(settings: Settings) -> None:
    folder = Path(settings.sqlite_path).resolve().parent
    if not folder.is_dir():
        raise OperatorError(
            f"Cannot create the database {describe_database(settings)}: the folder {folder}"
            " does not exist. Create it, or choose another path with --database or"
            " WAHOOKS_DATABASE."
        )


async def postgres_has_schema(settings: Settings) -> bool:
    import asyncpg

    from wahooks.storage.postgres import split_schema

    dsn, schema = split_schema(settings.database)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        if schema:
            quoted = schema.replace('"', '""')
            await conn.execute(f'SET search_path TO "{quoted}"')
        return bool(await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"))
    finally:
        await conn.close()


def require_existing_database(settings: Settings) -> None:
    """Refuse to work on a database no `serve` or `migrate` made: the command would otherwise
    create a new, empty installation next to the real one."""
    hint = ("Run the command where the server runs, or point it at the server's database with"
            " --database or WAHOOKS_DATABASE; `wahooks migrate` creates a new one.")
    if settings.uses_postgres:
        try:
            exists = asyncio.run(postgres_has_schema(settings))
        except database_errors() as exc:
            raise OperatorError(database_problem(settings, exc)) from None
        if not exists:
            raise OperatorError(f"No wahooks database in {describe_database(settings)}. {hint}")
    elif not Path(settings.sqlite_path).is_file():
        raise OperatorError(f"No wahooks database at {describe_database(settings)}. {hint}")


def with_accounts(
    settings: Settings, work: Callable[[Accounts], Awaitable[T]], *, create: bool = False
) -> T:
    from wahooks.accounts import Accounts
    from wahooks.storage import open_storage

    say_database(settings)
    if create and not settings.uses_postgres:
        check_sqlite_folder(settings)
    if not create:
        require_existing_database(settings)

    async def run() -> T:
        storage = open_storage(settings)
        await storage.open()
        try:
            return await work(Accounts(storage.accounts))
        finally:
            await storage.close()

    try:
        return asyncio.run(run())
    except database_errors() as exc:
        raise OperatorError(database_problem(settings, exc)) from None


database_option = click.option(
    "--database",
    "--database-url",
    "database",
    help="SQLite file path, or a postgresql:// URL [env WAHOOKS_DATABASE or WAHOOKS_DATABASE_URL;"
    " wahooks.db]",
)

