"""WAHA's webhook: the events of every WAHA session come in here (engine 'waha').

With another engine the path is simply not served: an unknown route's 404, `Cannot POST
/api/events/waha`.
"""

from __future__ import annotations

from typing import Any, Protocol

from wahooks.engines.routes import InboundRequest, InboundRoute

INGEST_PATH = "/api/events/waha"
RECEIVED = {"received": True}


class EventReceiver(Protocol):
    async def receive(self, raw: bytes, signature: str | None, algorithm: str | None) -> int: ...


def waha_routes(events: EventReceiver, max_event_bytes: int) -> list[InboundRoute]:
    async def waha_event(request: InboundRequest) -> dict[str, Any]:
        """Verify and ingest one event: its signature is checked against the raw body."""
        await events.receive(
            request.body,
            request.header(b"x-webhook-hmac"),
            request.header(b"x-webhook-hmac-algorithm"),
        )
        return RECEIVED

    return [
        InboundRoute(
            INGEST_PATH,
            "WAHA's webhook (engine 'waha'): one event, signed with X-Webhook-Hmac",
            waha_event, "engine", authenticated=False, max_body_bytes=max_event_bytes,
            request_schema={"type": "object", "description": "One WAHA event, as WAHA posts it"},
            error_statuses=(401,),  # a missing or wrong X-Webhook-Hmac
        ),
    ]
