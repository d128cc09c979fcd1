"""Webhooks: where a connection's events go, their delivery logs, tests and redeliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from wahooks.api.deps import BodyDep, PrincipalDep, ServicesDep
from wahooks.api.responses import json_response
from wahooks.clock import now_ms
from wahooks.delivery.targets import InvalidTargetURL, TargetRefused
from wahooks.errors import Conflict, Forbidden, NotFound, ValidationFailed
from wahooks.ids import parse_uuid, uuid7
from wahooks.models import DeliveryStatus, User, Webhook
from wahooks.schemas import events_field, log_json, raise_if, webhook_json
from wahooks.signing import signing_secret

if TYPE_CHECKING:
    from wahooks.app import Services

router = APIRouter(tags=["webhooks"])

MAX_LOG_LIMIT = 1000


async def _owned_webhook(services: Services, user: User, webhook_id: str) -> Webhook:
    canonical = parse_uuid(webhook_id)
    webhook = None if canonical is None else await services.store.get_webhook(canonical)
    if webhook is None:
        raise NotFound("Webhook config not found")
    if webhook.user_id != user.id:
        raise Forbidden("You do not own this webhook config")
    return webhook


async def _checked_url(services: Services, value: Any, errors: list[str]) -> str | None:
    if not isinstance(value, str):
        errors.append("url must be a URL address")
        return None
    try:
        return await services.targets.check_url_resolving(value)
    except InvalidTargetURL:
        errors.append("url must be a URL address")
    except TargetRefused as exc:
        errors.append(str(exc))
    return None


@router.get("/api/connections/{connection_id}/webhooks", summary="A connection's webhooks")
async def list_webhooks(
    connection_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    webhooks = await services.store.list_webhooks(connection.id)
    return json_response([webhook_json(webhook) for webhook in webhooks])


@router.post("/api/connections/{connection_id}/webhooks", status_code=201,
             summary="Create a webhook; the answer carries its signing secret")
async def create_webhook(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    errors: list[str] = []
    url = await _checked_url(services, body.get("url"), errors)
    events = events_field(body.get("events"), errors)
    raise_if(errors)
    assert url is not None and events is not None
    now = now_ms()
    webhook = Webhook(
        id=uuid7(), user_id=principal.user.id, connection_id=connection.id, url=url,
        events=events, signing_secret=signing_secret(), active=True, created_at=now,
        updated_at=now,
    )
    await services.store.create_webhook(webhook)
    return json_response(webhook_json(webhook), 201)


@router.put("/api/webhooks/{webhook_id}", summary="Change a webhook's url, events or active flag")
async def update_webhook(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    webhook = await _owned_webhook(services, principal.user, webhook_id)
    errors: list[str] = []
    url = events = active = None
    if body.get("url") is not None:
        url = await _checked_url(services, body["url"], errors)
    if body.get("events") is not None:
        events = events_field(body["events"], errors)
    if body.get("active") is not None:
        active = body["active"]
        if not isinstance(active, bool):
            errors.append("active must be a boolean value")
    raise_if(errors)
    updated = await services.store.update_webhook(webhook.id, url=url, events=events, active=active)
    return json_response(webhook_json(updated))


@router.delete("/api/webhooks/{webhook_id}", summary="Delete a webhook and its logs")
async def delete_webhook(webhook_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    webhook = await _owned_webhook(services, principal.user, webhook_id)
    await services.store.delete_webhook(webhook.id)
    return json_response({"success": True})


@router.get("/api/webhooks/{webhook_id}/logs",
            summary="Deliveries, newest first, each with every attempt")
async def logs(
    webhook_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    status: DeliveryStatus | None = Query(None, description="pending, delivered or failed"),
    limit: int = Query(100, ge=1, le=MAX_LOG_LIMIT),
    before: str | None = Query(None, description="Only deliveries older than this log id"),
) -> Response:
    webhook = await _owned_webhook(services, principal.user, webhook_id)
    cursor = None
    if before is not None:
        cursor = parse_uuid(before)
        if cursor is None:
            raise ValidationFailed(["before must be a log id"])
    found = await services.store.list_deliveries(
        webhook.id, status=status, limit=limit, before=cursor
    )
    response = json_response([log_json(entry) for entry in found])
    if len(found) == limit:
        response.headers["X-Next-Before"] = found[-1].id
    return response


@router.post("/api/webhooks/{webhook_id}/test", status_code=201,
             summary="Deliver the test event to this webhook")
async def test(webhook_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    webhook = await _owned_webhook(services, principal.user, webhook_id)
    log_id = await services.ingest.send_test(webhook)
    return json_response(
        {"success": True, "logId": log_id, "message": "Test event enqueued for delivery"}, 201
    )


@router.post("/api/webhooks/{webhook_id}/logs/{log_id}/redeliver", status_code=201,
             summary="Deliver a logged event again (dead-lettered or delivered)")
async def redeliver(
    webhook_id: str, log_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    webhook = await _owned_webhook(services, principal.user, webhook_id)
    canonical = parse_uuid(log_id)
    entry = None if canonical is None else await services.store.get_delivery(canonical)
    if entry is None or entry.webhook_id != webhook.id:
        raise NotFound("Webhook log not found")
    if entry.status is DeliveryStatus.PENDING:
        raise Conflict("This delivery is still pending; it will be attempted again by itself")
    await services.store.redeliver(webhook.id, [entry.id])
    services.dispatcher.poke()
    return json_response(
        {"success": True, "logId": entry.id, "message": "Redelivery enqueued"}, 201
    )


@router.post("/api/webhooks/{webhook_id}/redeliver-failed", status_code=201,
             summary="Deliver every dead-lettered event of this webhook again")
async def redeliver_failed(
    webhook_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    webhook = await _owned_webhook(services, principal.user, webhook_id)
    ids = await services.store.redeliver(webhook.id, None)
    services.dispatcher.poke()
    return json_response({"success": True, "count": len(ids)}, 201)
