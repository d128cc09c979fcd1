"""GET /metrics: Prometheus's text format, for an owner's token (or anyone, when opened)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from wahooks.api.deps import ServicesDep
from wahooks.errors import Forbidden
from wahooks.metrics import CONTENT_TYPE

router = APIRouter(tags=["meta"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (an owner's token; no auth with WAHOOKS_METRICS_PUBLIC=true)",
    response_class=Response,
    # A scrape endpoint in Prometheus's text format (docs/metrics.md), not part of the JSON API.
    include_in_schema=False,
)
async def metrics(request: Request, services: ServicesDep) -> Response:
    if not services.settings.metrics_public:
        principal = await services.accounts.authenticate(request.headers.get("authorization"))
        if not principal.user.is_owner:
            # Queue sizes and traffic are the whole server's, not this account's.
            raise Forbidden("Metrics are only for the owner account's tokens")
    return Response(await services.metrics.exposition(), media_type=CONTENT_TYPE)
