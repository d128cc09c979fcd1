"""Operator commands: run the server; accounts, tokens, the schema and backups straight in the
database.

They open the database directly, so they work whether the server runs or not. Only `serve` and
`migrate` may create a database: every other command refuses one that does not exist yet, so a
command typed in the wrong folder cannot make a second, empty installation. Each says which
database it used, on stderr.

They need the server extra (`pip install 'wahooks-server[server]'`); the light install has the
client commands only, and these say so instead of failing on an import.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from wahooks.cli.root import main
from wahooks.version import __version__

if TYPE_CHECKING:
    from wahooks.accounts import Accounts
    from wahooks.config import Settings

T = TypeVar("T")

log = logging.getLogger("wahooks.cli")

SERVER_EXTRA_HINT = "pip install 'wahooks-server[server]'"

# serve waits this long for an unreachable PostgreSQL at start (a database restarting, or the
# machine booting both at once); later losses are retried by the running server.
DEFAULT_DATABASE_WAIT = 60.0

# Flags of `serve` for each setting, so an error names what the user can actually type.
_FLAGS = {
    "host": "--host", "port": "--port", "database": "--database", "role": "--role",
    "log_level": "--log-level", "allow_private_targets": "--allow-private-targets",
}


class OperatorError(click.ClickException):
    """One line on stderr (`Error: ...`), exit 1: what went wrong, where, what to do."""


def _require_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import pydantic_settings  # noqa: F401
    except ImportError as exc:
        raise OperatorError(
            f"This command runs the server side and needs its packages ({exc.name} is missing):"
            f" {SERVER_EXTRA_HINT}"
        ) from None


def _settings(**flags: Any) -> Settings:
    _require_server_extra()
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


def _said(settings: Settings) -> None:
    click.echo(f"Database: {describe_database(settings)}", err=True)


def _database_problem(settings: Settings, exc: BaseException) -> str:
    where = describe_database(settings)
    if settings.uses_postgres:
        return (f"Cannot use {where}: {exc or type(exc).__name__}. Check that PostgreSQL runs"
                " there and that the URL (user, database name) is right.")
    return f"Cannot open {where}: {exc or type(exc).__name__}."


def _database_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError,
            asyncio.TimeoutError)


def _check_sqlite_folder(settings: Settings) -> None:
    folder = Path(settings.sqlite_path).resolve().parent
    if not folder.is_dir():
        raise OperatorError(
            f"Cannot create the database {describe_database(settings)}: the folder {folder}"
            " does not exist. Create it, or choose another path with --database or"
            " WAHOOKS_DATABASE."
        )


async def _postgres_has_schema(settings: Settings) -> bool:
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


def _require_existing_database(settings: Settings) -> None:
    """Refuse to work on a database no `serve` or `migrate` made: the command would otherwise
    create a new, empty installation next to the real one."""
    hint = ("Run the command where the server runs, or point it at the server's database with"
            " --database or WAHOOKS_DATABASE; `wahooks migrate` creates a new one.")
    if settings.uses_postgres:
        try:
            exists = asyncio.run(_postgres_has_schema(settings))
        except _database_errors() as exc:
            raise OperatorError(_database_problem(settings, exc)) from None
        if not exists:
            raise OperatorError(f"No wahooks database in {describe_database(settings)}. {hint}")
    elif not Path(settings.sqlite_path).is_file():
        raise OperatorError(f"No wahooks database at {describe_database(settings)}. {hint}")


def _with_store(
    settings: Settings, work: Callable[[Accounts], Awaitable[T]], *, create: bool = False
) -> T:
    from wahooks.accounts import Accounts
    from wahooks.storage import open_storage

    _said(settings)
    if create and not settings.uses_postgres:
        _check_sqlite_folder(settings)
    if not create:
        _require_existing_database(settings)

    async def run() -> T:
        storage = open_storage(settings)
        await storage.open()
        try:
            return await work(Accounts(storage.accounts))
        finally:
            await storage.close()

    try:
        return asyncio.run(run())
    except _database_errors() as exc:
        raise OperatorError(_database_problem(settings, exc)) from None


class _ServeCommand(click.Command):
    """`serve --help` ends with every setting, the environment-only ones too (read from Settings
    when help is asked for, so the list cannot go stale)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        try:
            from wahooks.config import Settings
        except ImportError:
            formatter.write_paragraph()
            formatter.write_text(f"The server needs its packages: {SERVER_EXTRA_HINT}")
            return
        rows = []
        for name, field in Settings.model_fields.items():
            default = field.default
            if isinstance(default, tuple):
                default = ",".join(str(value) for value in default)
            shown = "" if default in (None, "", ()) else f" [default: {default}]"
            rows.append((f"WAHOOKS_{name.upper()}", f"{field.description or ''}{shown}"))
        with formatter.section("Settings (environment variables; a flag above wins)"):
            formatter.write_dl(rows)
        formatter.write_paragraph()
        formatter.write_text("Reference: docs/settings.md")


database_option = click.option(
    "--database",
    "--database-url",
    "database",
    help="SQLite file path, or a postgresql:// URL [env WAHOOKS_DATABASE or WAHOOKS_DATABASE_URL;"
    " wahooks.db]",
)


@main.command(cls=_ServeCommand, short_help="Run the server: API, WhatsApp engine, delivery.")
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
@click.option(
    "--database-wait", type=click.FloatRange(min=0), default=DEFAULT_DATABASE_WAIT,
    show_default=True, metavar="SECONDS",
    help="How long to retry an unreachable PostgreSQL at start before giving up",
)
def serve(database_wait: float, **flags: Any) -> None:
    """Run the API, the WhatsApp engine and the delivery worker (by default all in one process).

    The first start on an empty database creates the owner account and prints its API token.
    """
    settings = _settings(**flags)
    import uvicorn
    import uvloop

    from wahooks.app import DatabaseInUse, create_app, lock_database, run_worker
    from wahooks.logs import configure

    configure(settings.log_level)
    if not settings.uses_postgres:
        _check_sqlite_folder(settings)
        try:
            lock_database(settings.sqlite_path)
        except DatabaseInUse as exc:
            raise OperatorError(str(exc)) from None
        except OSError as exc:
            raise OperatorError(_database_problem(settings, exc)) from None
    else:
        _wait_for_postgres(settings, database_wait)
    if settings.role == "worker":
        click.echo(f"wahooks {__version__} delivery worker ({describe_database(settings)})",
                   err=True)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_worker(settings))
        return
    # The port is taken before anything else happens: a port in use must not cost the first
    # start its owner token (printed once, when the owner is created).
    listener = _bind(settings.host, settings.port)
    port = listener.getsockname()[1]
    click.echo(
        f"wahooks {__version__}: API URL http://{_url_host(settings.host)}:{port}"
        f" ({describe_database(settings)}, engine {settings.engine}, role {settings.role})",
        err=True,
    )
    server = _server_class()(uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        log_config=None,
        proxy_headers=False,  # wahooks reads no client addresses; the middleware costs per request
        timeout_graceful_shutdown=10,
    ))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C after shutting down
        server.run(sockets=[listener])


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            # uvicorn announces itself only for sockets it bound; this one was bound above.
            if self.started and sockets:
                port = sockets[0].getsockname()[1]
                logging.getLogger("uvicorn.error").info(
                    "Uvicorn running on http://%s:%d (Press CTRL+C to quit)",
                    _url_host(self.config.host), port,
                )

    return Server


def _url_host(host: str) -> str:
    """The host clients type: a wildcard address is reached at 127.0.0.1 from this machine."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise OperatorError(
                f"Port {port} on {host} is already in use (another wahooks, or another program)."
                " Stop it, or choose another port with --port or WAHOOKS_PORT."
            ) from None
        raise OperatorError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Check --host/WAHOOKS_HOST"
            " and --port/WAHOOKS_PORT."
        ) from None
    listener.set_inheritable(True)
    return listener


def _wait_for_postgres(settings: Settings, wait: float) -> None:
    """Connect once, retrying an unreachable server for `wait` seconds (logged); a refusal that
    waiting cannot fix (no such database, wrong password) ends at once."""
    import asyncpg

    from wahooks.storage.postgres import split_schema

    dsn, _ = split_schema(settings.database)
    waiting_for = (OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError,
                   asyncpg.TooManyConnectionsError)

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=10)
        await conn.close()

    deadline = time.monotonic() + wait
    delay = 0.5
    while True:
        try:
            asyncio.run(probe())
            return
        except waiting_for as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperatorError(
                    f"{_database_problem(settings, exc)} Gave up after {wait:g} s"
                    " (--database-wait)."
                ) from None
            delay = min(delay * 2, 5.0, left)
            log.warning(
                "database unreachable, retrying",
                extra={"action": "database.wait", "error": str(exc) or type(exc).__name__,
                       "retry_in_s": round(delay, 1), "gives_up_in_s": round(left, 1)},
            )
            time.sleep(delay)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise OperatorError(_database_problem(settings, exc)) from None


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
@click.option("--name", required=True, help="The account's name (unique)")
@database_option
def user_create(name: str, database: str | None) -> None:
    """Add an isolated account and print its first API token."""
    settings = _settings(database=database)

    async def work(accounts: Accounts) -> tuple[str, str] | None:
        if await accounts.user_named(name) is not None:
            return None
        new_user, new_token = await accounts.create_user(name)
        return new_user.id, new_token.raw

    created = _with_store(settings, work)
    if created is None:
        raise OperatorError(f"An account named {name!r} already exists; choose another name.")
    user_id, raw = created
    click.echo(f"Created account {name} ({user_id}). Its API token (shown once):", err=True)
    click.echo(raw)


@main.command()
@database_option
def migrate(database: str | None) -> None:
    """Create or upgrade the database schema, then exit."""
    settings = _settings(database=database)
    from wahooks.logs import configure

    configure("info")  # each migration applied is logged, so an upgrade says what it did

    async def work(accounts: Accounts) -> None:
        return None

    _with_store(settings, work, create=True)
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
    from_settings = _settings(database=source)
    to_settings = _settings(database=destination)
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
    except _database_errors() as exc:
        raise OperatorError(_database_problem(to_settings, exc)) from None
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
    settings = _settings(database=database)
    if settings.uses_postgres:
        raise OperatorError(
            "db backup copies a SQLite database; back up PostgreSQL with pg_dump"
            " (see docs/operations.md)."
        )
    _require_existing_database(settings)
    _said(settings)
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
