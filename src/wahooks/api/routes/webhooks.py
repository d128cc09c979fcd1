"""Webhooks: where a connection's events go, their delivery logs, tests and redeliveries.

HTTP only: the rules are `wahooks.webhooks.WebhookService`'s."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from wahooks.api.deps import BodyDep, PrincipalDep, ServicesDep
from wahooks.api.openapi import errors, json_body
from wahooks.api.responses import json_response
from wahooks.clock import iso
from wahooks.models import DeliveryStatus, Ordering
from wahooks.schemas import EVENT_NAMES, health_json, log_json, webhook_json

router = APIRouter(tags=["webhooks"])

MAX_LOG_LIMIT = 1000
_URL = {"type": "string", "format": "uri", "example": "https://example.com/hooks/whatsapp",
        "description": "An http or https URL; private and loopback addresses are refused unless"
                       " the server allows private targets"}
_EVENTS = {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(EVENT_NAMES)},
           "description": "Event names, or [\"*\"] for every event"}
_ORDERING = {"type": "string", "enum": [o.value for o in Ordering], "default": "none",
             "description": "chat: one chat's deliveries go one after another, in event order;"
                            " none: each on its own"}
# null means absent (the official Python SDK sends every optional key): the default, or unchanged.
_NULLABLE_ORDERING = {**_ORDERING, "type": ["string", "null"], "enum": [*_ORDERING["enum"], None]}
CREATE_SCHEMA = {"type": "object", "required": ["url", "events"],
                 "properties": {"url": _URL, "events": _EVENTS, "ordering": _NULLABLE_ORDERING}}
_INSTANT = {"type": "string", "format": "date-time", "example": "2026-12-01T00:00:00Z"}
RECOVER_SCHEMA = {"type": "object", "required": ["since"], "properties": {
    "since": {**_INSTANT, "description": "Events at or after this time (ISO 8601)"},
    "until": {**_INSTANT, "type": ["string", "null"],
              "description": "Events before this time (now when absent); at most 14 days after since"},
}}
ROTATE_SCHEMA = {"type": "object", "properties": {
    "overlapSeconds": {"type": ["integer", "null"], "minimum": 0, "maximum": 604800,
                       "description": "How long the old secret keeps signing (default 86400)"},
}}
UPDATE_SCHEMA = {"type": "object", "description": "What is given changes; null or absent: unchanged",
                 "properties": {"url": {**_URL, "type": ["string", "null"]},
                                "events": {**_EVENTS, "type": ["array", "null"]},
                                "active": {"type": ["boolean", "null"]},
                                "ordering": _NULLABLE_ORDERING}}


@router.get("/api/connections/{connection_id}/webhooks", summary="A connection's webhooks")
async def list_webhooks(
    connection_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    webhooks = await services.webhooks.of_connection(connection)
    return json_response([webhook_json(webhook) for webhook in webhooks])


@router.post("/api/connections/{connection_id}/webhooks", status_code=201,
             summary="Create a webhook; the answer carries its signing secret",
             openapi_extra=json_body(CREATE_SCHEMA))
async def create_webhook(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    webhook = await services.webhooks.create(
        principal.user, connection, url=body.get("url"), events=body.get("events"),
        ordering=body.get("ordering"),
    )
    return json_response(webhook_json(webhook), 201)


@router.put("/api/webhooks/{webhook_id}",
            summary="Change a webhook's url, events, active flag or ordering (active: true also"
                    " replays what was held while wahooks had disabled it)",
            openapi_extra=json_body(UPDATE_SCHEMA))
async def update_webhook(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    updated = await services.webhooks.update(
        webhook, url=body.get("url"), events=body.get("events"), active=body.get("active"),
        ordering=body.get("ordering"),
    )
    return json_response(webhook_json(updated))


@router.get("/api/webhooks/{webhook_id}/health",
            summary="The endpoint's health: last success and failure, 24 h success rate,"
                    " consecutive dead letters, why it is disabled, held deliveries")
async def health(webhook_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    return json_response(health_json(webhook, await services.webhooks.health(webhook)))


@router.delete("/api/webhooks/{webhook_id}", summary="Delete a webhook and its logs")
async def delete_webhook(webhook_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    await services.webhooks.delete(webhook)
    return json_response({"success": True})


@router.get("/api/webhooks/{webhook_id}/logs",
            summary="Deliveries, newest first, each with every attempt")
async def logs(
    webhook_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    status: DeliveryStatus | None = Query(
        None, description="pending, delivered, failed or held"
    ),
    limit: int = Query(100, ge=1, le=MAX_LOG_LIMIT),
    before: str | None = Query(None, description="Only deliveries older than this log id"),
    event_type: str | None = Query(None, alias="eventType", description="Only this event type"),
    since: str | None = Query(None, description="Events at or after this ISO 8601 time"),
    until: str | None = Query(None, description="Events before this ISO 8601 time"),
    status_class: str | None = Query(
        None, alias="statusClass",
        description="The last attempt's HTTP status class: 2xx, 3xx, 4xx, 5xx, or none",
    ),
) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    found = await services.webhooks.logs(
        webhook, status=status, limit=limit, before=before, event_type=event_type,
        since=since, until=until, status_class=status_class,
    )
    response = json_response([log_json(entry) for entry in found])
    if len(found) == limit:
        response.headers["X-Next-Before"] = found[-1].id
    return response


@router.get("/api/webhooks/{webhook_id}/logs/{log_id}",
            summary="One delivery with every attempt and its detail")
async def log(
    webhook_id: str, log_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    return json_response(log_json(await services.webhooks.log(webhook, log_id)))


@router.post("/api/webhooks/{webhook_id}/recover", status_code=201,
             summary="Queue again the dead letters of a time window that never succeeded",
             openapi_extra=json_body(RECOVER_SCHEMA))
async def recover(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    count = await services.webhooks.recover(
        webhook, since=body.get("since"), until=body.get("until")
    )
    return json_response({"success": True, "count": count}, 201)


@router.post("/api/webhooks/{webhook_id}/test", status_code=201,
             summary="Deliver the test event to this webhook")
async def test(webhook_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    log_id = await services.webhooks.test(webhook)
    return json_response(
        {"success": True, "logId": log_id, "message": "Test event enqueued for delivery"}, 201
    )


@router.post("/api/webhooks/{webhook_id}/logs/{log_id}/redeliver", status_code=201,
             summary="Deliver a logged event again (dead-lettered or delivered)",
             responses=errors(409))
async def redeliver(
    webhook_id: str, log_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    redelivered = await services.webhooks.redeliver(webhook, log_id)
    return json_response(
        {"success": True, "logId": redelivered, "message": "Redelivery enqueued"}, 201
    )


@router.post("/api/webhooks/{webhook_id}/redeliver-failed", status_code=201,
             summary="Deliver every dead-lettered event of this webhook again")
async def redeliver_failed(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    count = await services.webhooks.redeliver_failed(webhook)
    return json_response({"success": True, "count": count}, 201)


@router.post("/api/webhooks/{webhook_id}/rotate-secret", status_code=201,
             summary="A new signing secret; the old one keeps signing for overlapSeconds",
             openapi_extra=json_body(ROTATE_SCHEMA, required=False))
async def rotate_secret(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    webhook = await services.webhooks.owned(principal.user, webhook_id)
    rotated = await services.webhooks.rotate_secret(
        webhook, overlap_seconds=body.get("overlapSeconds")
    )
    return json_response({
        "success": True,
        "webhookId": rotated.id,
        "signingSecret": rotated.signing_secret,
        "previousSecretExpiresAt": iso(rotated.previous_secret_expires_at),
    }, 201)
