"""WAHA's webhook: the events of every WAHA session come in here (engine 'waha').

No bearer token: an event is taken only when `X-Webhook-Hmac` is the HMAC-SHA512 of the raw body
under its session's key (see `WahaEngine.receive`); anything else is 401 and nothing is stored.
The original left this route open to anyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from wahooks.api.deps import ServicesDep
from wahooks.api.responses import json_response
from wahooks.engines.waha import INGEST_PATH, WahaEngine
from wahooks.errors import NotFound

if TYPE_CHECKING:
    from wahooks.services import Services

router = APIRouter(tags=["engine"])

RECEIVED = {"received": True}


async def receive_waha_event(
    services: Services, headers: Iterable[tuple[bytes, bytes]], raw: bytes
) -> dict[str, Any]:
    """Verify and ingest one event. Shared by the hot path and the documented route."""
    engine = services.engine
    if not isinstance(engine, WahaEngine):
        raise NotFound(f"Cannot POST {INGEST_PATH}")
    signature = algorithm = None
    for name, value in headers:
        if name == b"x-webhook-hmac":
            signature = value.decode("latin-1")
        elif name == b"x-webhook-hmac-algorithm":
            algorithm = value.decode("latin-1")
    await engine.receive(raw, signature, algorithm)
    return RECEIVED


# Served by wahooks.api.hot_path, which answers before FastAPI sees the request; this declaration
# documents the route in the OpenAPI schema and serves any request that bypasses it.


@router.post(INGEST_PATH, status_code=201,
             summary="WAHA's webhook (engine 'waha'): one event, signed with X-Webhook-Hmac")
async def waha_event(request: Request, services: ServicesDep) -> Response:
    raw = await request.body()
    answer = await receive_waha_event(services, request.scope["headers"], raw)
    return json_response(answer, 201)
