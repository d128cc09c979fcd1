"""Liveness, health and who-am-I."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.responses import Response

from wahooks.api.deps import PrincipalDep, ServicesDep
from wahooks.api.responses import json_response
from wahooks.clock import iso, now_ms

if TYPE_CHECKING:
    from wahooks.services import Services

router = APIRouter(tags=["meta"])


@router.get("/api", summary="Liveness (no auth)")
async def root() -> Response:
    return json_response({"status": "ok"})


@router.get("/api/health", summary="Health of the database and the delivery worker (no auth)")
async def health(services: ServicesDep) -> Response:
    started = time.perf_counter()
    database: dict[str, object]
    try:
        await services.storage.ping()
        database = {"status": "ok", "latency": _ms_since(started)}
    except Exception as exc:
        database = {"status": "error", "latency": _ms_since(started), "error": str(exc)}
    workers = await _workers(services)
    ok = database["status"] == "ok" and workers["status"] == "ok"
    return json_response({
        "status": "ok" if ok else "degraded",
        "timestamp": iso(now_ms()),
        "checks": {"database": database, "workers": workers},
    })


@router.get("/api/me", summary="The authenticated account")
async def me(principal: PrincipalDep) -> Response:
    user = principal.user
    return json_response(
        {"id": user.id, "email": None, "name": user.name, "isAdmin": user.is_owner}
    )


async def _workers(services: Services) -> dict[str, object]:
    """This process's dispatcher, or (an API process) the workers seen in the last 30 s."""
    dispatcher = services.dispatcher
    if services.settings.role != "api":
        check: dict[str, object] = {
            "status": "ok" if dispatcher.active else "error",
            "latency": 0,
            "inFlight": dispatcher.in_flight,
            "queued": dispatcher.queued,
        }
    else:
        started = time.perf_counter()
        try:
            alive = await services.storage.processes.live_workers(30_000)
        except Exception as exc:
            return {"status": "error", "latency": _ms_since(started), "error": str(exc)}
        check = {"status": "ok" if alive else "error", "latency": _ms_since(started),
                 "count": alive}
    if check["status"] == "error":
        check["error"] = "No active workers"
    return check


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
