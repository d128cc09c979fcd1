"""The dashboard's system page: version, engine, database health, the delivery workers and their
heartbeats, and the delivery queue by state from the queue's own figures.

Who sees what. The queue's figures are what `/metrics` reads (`queue_depth`: deliveries by status,
how many are leased, how long the oldest due one has waited), not counts of log pages. The owner
(admin) sees the whole queue, as the owner's token does on `/metrics`; any other account sees the
same figures over its own webhooks only (`WebhookService.account_queue_depth`), and of the workers
only whether they run and how many are alive: worker ids name hosts and processes, which are the
operator's business, and a dispatcher's in-flight and queued counts are every account's load.

The page answers even when the database does not: each figure it cannot read says so.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wahooks.clock import now_ms
from wahooks.storage.records import QueueDepth, WorkerBeat
from wahooks.web.connections import BADGES
from wahooks.web.render import page, render
from wahooks.web.session import Session

if TYPE_CHECKING:
    from wahooks.services import Services

WORKERS_WITHIN_MS = 30_000  # a worker heard from this recently is alive (as /api/health says)


@page
async def system_page(request: Request, services: Services, session: Session) -> Response:
    owner = session.user.is_owner
    connections = await services.connections.list(session.user)
    return render(
        request, "system.html", session, database=await _database(services),
        workers=await _workers(services, owner), beats=await _beats(services, owner),
        depth=await _depth(services, session), whole_queue=owner, now=now_ms(),
        engine=services.settings.engine,
        connections=Counter(BADGES[connection.status] for connection in connections),
    )


async def _database(services: Services) -> dict[str, object]:
    started = time.perf_counter()
    try:
        await services.storage.ping()
    except Exception as exc:  # noqa: BLE001 - the page reports what the database said
        return {"status": "error", "error": str(exc)}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000)}


async def _depth(services: Services, session: Session) -> QueueDepth | None:
    """The whole queue for the owner, the account's own deliveries for anyone else; None when
    the database cannot say."""
    try:
        if session.user.is_owner:
            return await services.storage.queue.queue_depth()
        return await services.webhooks.account_queue_depth(session.user)
    except Exception:  # noqa: BLE001 - shown as unavailable, beside the database's error
        return None


async def _workers(services: Services, owner: bool) -> dict[str, object]:
    """This process's dispatcher (unless it only serves the API), and how many workers sent a
    heartbeat lately when several processes share PostgreSQL."""
    dispatcher = services.dispatcher
    workers: dict[str, object] = {"role": services.settings.role}
    if services.settings.role != "api":
        workers["active"] = dispatcher.active
        if owner:  # the whole server's load, every account's deliveries: the owner's view
            workers |= {"in_flight": dispatcher.in_flight, "queued": dispatcher.queued,
                        "worker_id": dispatcher.worker_id}
    if not services.storage.single_process:
        try:
            workers["live_workers"] = await services.storage.processes.live_workers(
                WORKERS_WITHIN_MS)
        except Exception:  # noqa: BLE001 - the database's error is shown above
            workers["live_workers"] = "unavailable"
    return workers


async def _beats(services: Services, owner: bool) -> list[WorkerBeat]:
    """Every live worker's heartbeat, for the owner, with several processes on PostgreSQL."""
    if not owner or services.storage.single_process:
        return []
    try:
        return await services.storage.processes.worker_beats(WORKERS_WITHIN_MS)
    except Exception:  # noqa: BLE001 - the database's error is shown above
        return []


routes = [Route("/system", system_page, methods=["GET"])]
