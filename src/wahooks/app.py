"""Composition root: Settings -> store, engine, dispatcher, ingest -> the ASGI app.

Everything runs in one process and one event loop: the API, the engine and the delivery worker.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect

from wahooks.accounts import Accounts
from wahooks.api.errors import (
    on_client_disconnect,
    on_http_exception,
    on_request_validation,
    on_unexpected,
    on_wahooks_error,
)
from wahooks.api.hot_path import HotPath
from wahooks.api.inbound import InboundTable, document
from wahooks.api.openapi import describe
from wahooks.api.routes import connections, messaging, meta, metrics, tokens, webhooks, ws
from wahooks.api.swagger import mount_docs
from wahooks.api.worker_metrics import metrics_server
from wahooks.config import Settings
from wahooks.connections import ConnectionService
from wahooks.delivery.dispatcher import Dispatcher
from wahooks.delivery.retention import Retention
from wahooks.delivery.retry import RetryPolicy
from wahooks.delivery.sender import Sender
from wahooks.delivery.targets import TargetPolicy
from wahooks.engines import absent_routes, build_engine
from wahooks.errors import WahooksError
from wahooks.ingest import Ingest
from wahooks.live import LiveEvents
from wahooks.live_fanout import LiveFanout
from wahooks.mcp.http import mount_mcp
from wahooks.messaging import MessagingService
from wahooks.metrics import Metrics
from wahooks.services import Services
from wahooks.storage import open_storage
from wahooks.storage.health import DisableRule
from wahooks.version import __version__
from wahooks.web import web_routes
from wahooks.webhooks import WebhookService

log = logging.getLogger(__name__)


class DatabaseInUse(WahooksError):
    """Another wahooks server is already running on this database file"""


def build_services(settings: Settings) -> Services:
    storage = open_storage(settings)
    targets = TargetPolicy(allow_private=settings.allow_private_targets)
    sender = Sender(targets, timeout=settings.request_timeout)
    # A lease outlives any attempt (timeout) and is renewed while held: it only runs out when the
    # process holding it died.
    lease_ms = int(max(settings.lease_seconds, 2 * settings.request_timeout) * 1000)
    metrics = Metrics(storage.queue, info={
        "version": __version__, "role": settings.role, "engine": settings.engine,
        "storage": "postgres" if settings.uses_postgres else "sqlite",
    })
    dispatcher = Dispatcher(
        storage.queue, sender, RetryPolicy(settings.retry_schedule, settings.retry_after_max),
        max_in_flight=settings.max_in_flight,
        max_in_flight_per_endpoint=settings.max_in_flight_per_endpoint,
        lease_ms=lease_ms,
        poll_interval=settings.poll_interval,
        heartbeats=None if storage.single_process else storage.processes,
        observers=[metrics],
        disable=DisableRule(
            after_ms=int(settings.disable_after * 1000),
            min_dead_letters=settings.disable_min_dead_letters,
        ),
    )
    if settings.role != "api":  # an API process's dispatcher never runs
        metrics.watch_dispatcher(dispatcher)
    engine = build_engine(settings, storage)
    connections_service = ConnectionService(storage.connections, storage.webhooks, engine)
    ingest = Ingest(storage.queue, dispatcher, connections_service, lease_ms=lease_ms)
    ingest.add_listener(metrics.event_accepted)
    engine.attach(ingest.accept, connections_service)
    retention = Retention(
        storage.retention,
        interval=settings.retention_interval,
        delivered_max_age=settings.delivered_max_age,
        delivered_kept=settings.delivered_kept,
        dead_letters_kept=settings.dead_letters_kept,
        held_kept=settings.held_max,
    )
    webhooks = WebhookService(storage.webhooks, storage.deliveries, targets, ingest, dispatcher)
    return Services(
        settings, storage, engine, Accounts(storage.accounts), connections_service, webhooks,
        targets, sender, dispatcher, ingest, retention,
        MessagingService(engine, targets, presence_factor=settings.presence_factor), metrics,
    )


_held_locks: dict[str, IO[str]] = {}


def lock_database(path: str) -> None:
    """Two servers on one SQLite file would both deliver everything: refuse the second one. The
    lock is held until the process exits."""
    key = os.path.abspath(path)
    if key in _held_locks:
        return
    handle = open(f"{path}.lock", "w")  # noqa: SIM115 - held open for the process's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DatabaseInUse(f"Another wahooks server is already running on {path}") from None
    handle.write(str(os.getpid()))
    handle.flush()
    _held_locks[key] = handle


@asynccontextmanager
async def running(services: Services, *, announce: IO[str] = sys.stdout) -> AsyncIterator[None]:
    storage, role = services.storage, services.settings.role
    if storage.single_process:
        lock_database(services.settings.sqlite_path)
    await storage.open()
    # With one process on the database every lease is this process's from its last life; with
    # several, only expired ones are taken back (by the workers, as they run).
    recovered = await storage.queue.recover_expired_leases(all_leases=storage.single_process)
    if recovered:
        log.warning(
            "deliveries interrupted by the last stop are due again",
            extra={"action": "delivery.recover", "count": recovered},
        )
    first = await services.accounts.ensure_owner() if role != "worker" else None
    if first is not None:
        print(
            "Created the owner account. Its API token (shown once, keep it safe):\n"
            f"  {first.raw}",
            file=announce,
            flush=True,
        )
    if role != "api":
        await services.sender.start()
        await services.dispatcher.start()
        services.retention.start()
    engine = services.engine
    if role != "worker":
        await engine.start()
    try:
        yield
    finally:
        await engine.stop()
        await services.retention.stop()
        await services.dispatcher.stop()
        await services.sender.close()
        await services.storage.close()


async def run_worker(
    settings: Settings,
    *,
    announce: IO[str] = sys.stdout,
    metrics_listener: socket.socket | None = None,
) -> None:
    """A delivery worker: claims, sends and records until SIGTERM/SIGINT. Its only HTTP is
    `/metrics`, on `metrics_listener` when given (WAHOOKS_METRICS_PORT)."""
    services = build_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running(services, announce=announce):
        server = None
        serving: asyncio.Task[None] | None = None
        if metrics_listener is not None:
            server = metrics_server(services, metrics_listener)
            serving = asyncio.create_task(server.serve(sockets=[metrics_listener]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            if serving.done():
                await serving  # it failed to start: say why
            port = metrics_listener.getsockname()[1]
            print(f"wahooks worker metrics on port {port}", file=announce, flush=True)
        print("wahooks worker running", file=announce, flush=True)
        await stop.wait()
        if server is not None and serving is not None:
            server.should_exit = True
            await serving


def create_app(settings: Settings) -> HotPath:
    services = build_services(settings)

    live = LiveEvents()
    services.ingest.add_listener(live.publish)
    fanout = None
    if services.storage.live is not None:
        # Other API processes on the database may hold this account's WebSockets.
        fanout = LiveFanout(
            services.storage.live, live, services.connections,
            process_id=services.dispatcher.worker_id,
        )
        services.ingest.add_listener(fanout.publish)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Webhooks disabled or enabled again, by whichever process: to the account's sockets.
        services.storage.webhook_changes.listen(live.publish_webhook_change)
        async with running(services):
            if fanout is not None:
                fanout.start()
            try:
                yield
            finally:
                if fanout is not None:
                    await fanout.stop()

    app = FastAPI(
        title="wahooks",
        version=__version__,
        description="WhatsApp events delivered to your webhooks: signed, retried, logged.",
        lifespan=lifespan,
        docs_url=None,  # mount_docs: Swagger UI from the package, not a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        # NestJS has no trailing-slash redirect: /api/x/ is simply not a route (404).
        redirect_slashes=False,
    )
    app.state.services = services
    app.state.live = live
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
                       allow_headers=["*"])
    app.add_exception_handler(WahooksError, on_wahooks_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(ClientDisconnect, on_client_disconnect)
    app.add_exception_handler(Exception, on_unexpected)
    for module in (meta, tokens, connections, messaging, webhooks, ws, metrics):
        app.include_router(module.router)
    mount_docs(app, openapi_url="/openapi.json")
    # The dashboard: pages under / after the API's routes, on the same Services.
    app.router.routes.extend(web_routes())
    asgi = with_engine_routes(app, services)
    describe(app)
    # /mcp: the MCP tools call the API in-process through `asgi`, as any client would.
    mount_mcp(app, asgi)
    return asgi


def with_engine_routes(app: FastAPI, services: Services) -> HotPath:
    """The engine's routes, and what the other engines' paths answer, in the lean path's one
    table in front of `app`; the running engine's are documented from the same declarations."""
    routes = [*services.engine.routes(), *absent_routes(services.settings.engine)]
    table = InboundTable(routes, services.accounts)
    document(app, table)
    return HotPath(app, table)
