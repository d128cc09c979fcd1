"""`wahooks serve`: the server (API, engine and delivery worker, or one role of them).

It binds its port before anything else, so a port in use fails before the owner account is made,
and waits a bounded, logged while for an unreachable PostgreSQL at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import click

from wahooks.cli.operator_database import (
    SERVER_EXTRA_HINT,
    OperatorError,
    check_sqlite_folder,
    database_option,
    database_problem,
    describe_database,
    settings_from,
)
from wahooks.cli.root import main
from wahooks.version import __version__

if TYPE_CHECKING:
    from wahooks.config import Settings

log = logging.getLogger("wahooks.cli")


# serve waits this long for an unreachable PostgreSQL at start (a database restarting, or the
# machine booting both at once); later losses are retried by the running server.
DEFAULT_DATABASE_WAIT = 60.0


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
    "--reuse-port", is_flag=True, default=None,
    help="Share --port with other API processes on this host (SO_REUSEPORT; PostgreSQL)"
    " [env WAHOOKS_REUSE_PORT; off]",
)
@click.option(
    "--metrics-port", type=int,
    help="With --role worker: serve /metrics on this port [env WAHOOKS_METRICS_PORT; none]",
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
    settings = settings_from(**flags)
    import uvicorn
    import uvloop

    from wahooks.api.hot_lane import server_protocol
    from wahooks.api.http_limits import http_limits, raise_fd_limit
    from wahooks.app import DatabaseInUse, create_app, lock_database, run_worker
    from wahooks.logs import configure

    configure(settings.log_level)
    if not settings.uses_postgres:
        check_sqlite_folder(settings)
        try:
            lock_database(settings.sqlite_path)
        except DatabaseInUse as exc:
            raise OperatorError(str(exc)) from None
        except OSError as exc:
            raise OperatorError(database_problem(settings, exc)) from None
    else:
        _wait_for_postgres(settings, database_wait)
    if settings.role == "worker":
        _tune_garbage_collector()
        metrics_listener = None
        if settings.metrics_port is not None:
            metrics_listener = _bind(settings.host, settings.metrics_port, "--metrics-port",
                                     "WAHOOKS_METRICS_PORT")
        click.echo(f"wahooks {__version__} delivery worker ({describe_database(settings)})",
                   err=True)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_worker(settings, metrics_listener=metrics_listener))
        return
    # The port is taken before anything else happens: a port in use must not cost the first
    # start its owner token (printed once, when the owner is created).
    listener = _bind(settings.host, settings.port, reuse_port=settings.reuse_port)
    port = listener.getsockname()[1]
    click.echo(
        f"wahooks {__version__}: API URL http://{_url_host(settings.host)}:{port}"
        f" ({describe_database(settings)}, engine {settings.engine}, role {settings.role})",
        err=True,
    )
    raise_fd_limit()
    app = create_app(settings)
    server = _server_class()(uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        loop="uvloop",
        http=server_protocol(http_limits(settings), app.table),
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        log_config=None,
        proxy_headers=False,  # wahooks reads no client addresses; the middleware costs per request
        timeout_graceful_shutdown=10,
    ))
    _tune_garbage_collector()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C after shutting down
        server.run(sockets=[listener])


# Objects made per event (coroutines, futures, dicts, tuples) count towards a young collection,
# which by default runs every 700 of them and walks every young object still alive: the requests
# in flight. A larger first threshold walks them far less often, for a bounded amount of garbage
# waiting a little longer (measured: 8-10% less CPU per delivery, no RSS change at 20,000 events).
_YOUNG_COLLECTION_EVERY = 20_000


def _tune_garbage_collector() -> None:
    """Fewer young collections; and what exists before serving (modules, the application) is
    moved out of the collector's sight, as it lives as long as the process."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, middle, old)
    gc.freeze()


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


def _bind(
    host: str, port: int, flag: str = "--port", variable: str = "WAHOOKS_PORT", *,
    reuse_port: bool = False,
) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # every process on the port must set it, or the bind fails as "in use"
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise OperatorError(
                f"Port {port} on {host} is already in use (another wahooks, or another program)."
                f" Stop it, or choose another port with {flag} or {variable}"
                + (" (API processes sharing a port all need --reuse-port)." if flag == "--port"
                   else ".")
            ) from None
        raise OperatorError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Check --host/WAHOOKS_HOST"
            f" and {flag}/{variable}."
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
                    f"{database_problem(settings, exc)} Gave up after {wait:g} s"
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
            raise OperatorError(database_problem(settings, exc)) from None

