"""Dashboard pages for webhooks and their deliveries: create, the secret, test, toggle, delete;
the delivery list with its filters in the URL, a delivery's attempts, redelivery, and a live tail
of new deliveries (server-sent events).

The delivery issue's features go through WebhookService like the rest: secret rotation with an
overlap, recovery of dead letters since a time, the log filters (event type, time range, HTTP status
class) kept in the URL, each attempt's detail (trigger, error class, response excerpt and
headers), and endpoint health: why and since when a webhook was disabled, what it holds, and
"Re-enable and replay" (docs/delivery.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from wahooks.errors import BadRequest, ValidationFailed, WahooksError
from wahooks.ids import parse_uuid
from wahooks.models import STATUS_CLASSES, DeliveryLog, DeliveryStatus, Webhook
from wahooks.schemas import EVENT_NAMES
from wahooks.web.render import Form, action, page, redirect, render, services_of, templates
from wahooks.web.session import Session, current_session

if TYPE_CHECKING:
    from wahooks.services import Services

PAGE_SIZE = 25
TAIL_POLL_SECONDS = 1.0
DEFAULT_OVERLAP_HOURS = 24
FILTER_NAMES = ("webhook", "status", "eventType", "since", "until", "statusClass")


async def _webhooks_of(services: Services, session: Session) -> list[tuple[Webhook, str]]:
    """Every webhook of the account, with its connection's name."""
    found: list[tuple[Webhook, str]] = []
    for connection in await services.connections.list(session.user):
        label = connection.name or connection.session_name
        found += [(webhook, label) for webhook in await services.webhooks.of_connection(connection)]
    return found


@page
async def webhooks_page(request: Request, services: Services, session: Session) -> Response:
    return await _webhooks_answer(request, services, session)


async def _webhooks_answer(
    request: Request, services: Services, session: Session, *, rotated: Webhook | None = None
) -> Response:
    rows = []
    for webhook, connection in await _webhooks_of(services, session):
        health = await services.webhooks.health(webhook)
        rate = health.success_rate_24h
        rows.append({"w": webhook, "connection": connection, "health": health,
                     "rate": "-" if rate is None else f"{rate:.1%}"})
    connections = await services.connections.list(session.user)
    return render(request, "webhooks.html", session, rows=rows, connections=connections,
                  event_names=EVENT_NAMES, rotated=rotated,
                  default_overlap_hours=DEFAULT_OVERLAP_HOURS)


@action
async def create_webhook(request: Request, services: Services, session: Session, form: Form) -> Response:
    connection = await services.connections.owned(session.user, form.get("connection") or "")
    events = form.all("events") or ["*"]
    webhook = await services.webhooks.create(
        session.user, connection, url=(form.get("url") or "").strip(), events=events,
        ordering=form.get("ordering") or None)
    return redirect(f"/webhooks#w-{webhook.id}", notice="Webhook created")


@action
async def toggle_webhook(request: Request, services: Services, session: Session, form: Form) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["id"])
    updated = await services.webhooks.update(webhook, active=not webhook.enabled)
    return redirect("/webhooks", notice="Webhook " + ("enabled" if updated.enabled else "paused"))


@action
async def enable_webhook(request: Request, services: Services, session: Session, form: Form) -> Response:
    """Re-enable a webhook wahooks disabled (or one switched off): its held deliveries are
    replayed in event order."""
    webhook = await services.webhooks.owned(session.user, request.path_params["id"])
    held = (await services.webhooks.health(webhook)).held
    await services.webhooks.update(webhook, active=True)
    replayed = f"; {held} held deliver{'y' if held == 1 else 'ies'} replayed" if held else ""
    return redirect(f"/webhooks#w-{webhook.id}", notice=f"Webhook enabled{replayed}")


@action
async def test_webhook(request: Request, services: Services, session: Session, form: Form) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["id"])
    await services.webhooks.test(webhook)
    return redirect(f"/deliveries?webhook={webhook.id}", notice="Test event sent")


@action
async def rotate_secret(request: Request, services: Services, session: Session, form: Form) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["id"])
    text = (form.get("overlap_hours") or "").strip() or str(DEFAULT_OVERLAP_HOURS)
    try:
        hours = float(text)
    except ValueError:
        raise ValidationFailed([f"overlap must be a number of hours (got {text!r})"]) from None
    if not 0 <= hours <= 7 * 24:
        raise ValidationFailed(["overlap must be from 0 to 168 hours (7 days)"])
    rotated = await services.webhooks.rotate_secret(webhook, overlap_seconds=round(hours * 3600))
    # Shown once: rendered into this answer only, never put in a URL.
    return await _webhooks_answer(request, services, session, rotated=rotated)


def _optional(form: Form, name: str) -> str | None:
    return (form.get(name) or "").strip() or None


@action
async def recover(request: Request, services: Services, session: Session, form: Form) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["id"])
    count = await services.webhooks.recover(
        webhook, since=_optional(form, "since"), until=_optional(form, "until"))
    letters = "dead letter" if count == 1 else "dead letters"
    return redirect(f"/deliveries?webhook={webhook.id}",
                    notice=f"{count} {letters} queued again (recover)")


@action
async def delete_webhook(request: Request, services: Services, session: Session, form: Form) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["id"])
    if form.get("confirm") != "yes":
        raise BadRequest("Tick the box to confirm the deletion")
    await services.webhooks.delete(webhook)
    return redirect("/webhooks", notice="Webhook deleted")


def _status_filter(value: str | None) -> DeliveryStatus | None:
    if not value:
        return None
    try:
        return DeliveryStatus(value)
    except ValueError:
        raise ValidationFailed(["status must be pending, delivered, failed or held"]) from None


def _filters(query: Mapping[str, str]) -> dict[str, str | None]:
    """The log filters from the URL (`eventType`, `since`, `until`, `statusClass`, as the API
    names them); empty ones are absent. WebhookService checks their values."""
    names = {"event_type": "eventType", "since": "since", "until": "until",
             "status_class": "statusClass"}
    return {key: (query.get(name) or "").strip() or None for key, name in names.items()}


async def _deliveries(
    services: Services, session: Session, webhook_id: str | None, status: DeliveryStatus | None,
    before: str | None, filters: dict[str, str | None] | None = None,
) -> tuple[list[tuple[DeliveryLog, Webhook]], list[tuple[Webhook, str]]]:
    """A page of the account's deliveries, newest first, across its webhooks or of one."""
    webhooks = await _webhooks_of(services, session)
    if webhook_id:
        chosen = await services.webhooks.owned(session.user, webhook_id)
        targets = [chosen]
    else:
        targets = [webhook for webhook, _ in webhooks]
    if before is not None and parse_uuid(before) is None:
        raise ValidationFailed(["before must be a delivery id"])
    found: list[tuple[DeliveryLog, Webhook]] = []
    for webhook in targets:
        logs = await services.webhooks.logs(webhook, status=status, limit=PAGE_SIZE, before=before,
                                            **(filters or {}))
        found += [(entry, webhook) for entry in logs]
    # Ids are time-ordered (UUIDv7): newest first across webhooks.
    found.sort(key=lambda pair: pair[0].id, reverse=True)
    return found[:PAGE_SIZE], webhooks


@page
async def deliveries_page(request: Request, services: Services, session: Session) -> Response:
    query = request.query_params
    webhook_id = query.get("webhook") or None
    status = _status_filter(query.get("status"))
    filters = _filters(query)
    rows, webhooks = await _deliveries(services, session, webhook_id, status, query.get("before"),
                                       filters)
    next_before = rows[-1][0].id if len(rows) == PAGE_SIZE else None
    # The filters of this view (not its cursor or message): "Older" and the live tail keep them.
    kept = {name: query[name] for name in FILTER_NAMES if query.get(name)}
    return render(request, "deliveries.html", session, rows=rows, webhooks=webhooks,
                  webhook_id=webhook_id or "", status_filter=status.value if status else "",
                  next_before=next_before, statuses=[s.value for s in DeliveryStatus],
                  filters=filters, status_classes=list(STATUS_CLASSES), event_names=EVENT_NAMES,
                  older_query=urlencode({**kept, "before": next_before or ""}),
                  tail_query=urlencode(kept), view_filters=kept)


@page
async def delivery_page(request: Request, services: Services, session: Session) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["webhook"])
    entry = await services.webhooks.log(webhook, request.path_params["id"])
    return render(request, "delivery.html", session, d=entry, w=webhook,
                  body=entry.body.decode("utf-8", "replace"))


@action
async def redeliver(request: Request, services: Services, session: Session, form: Form) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["webhook"])
    log_id = await services.webhooks.redeliver(webhook, request.path_params["id"])
    return redirect(f"/webhooks/{webhook.id}/deliveries/{log_id}", notice="Redelivery enqueued")


@action
async def redeliver_failed(
    request: Request, services: Services, session: Session, form: Form
) -> Response:
    webhook = await services.webhooks.owned(session.user, request.path_params["id"])
    count = await services.webhooks.redeliver_failed(webhook)
    return redirect(f"/deliveries?webhook={webhook.id}",
                    notice=f"{count} failed deliveries enqueued again")


@action
async def retry_matching(
    request: Request, services: Services, session: Session, form: Form
) -> Response:
    """Retry the dead letters a filtered view shows: the chosen webhook's, or every webhook's of
    the account, that match the view's filters (whatever its status filter: only failed ones)."""
    webhook_id = _optional(form, "webhook")
    if webhook_id:
        targets = [await services.webhooks.owned(session.user, webhook_id)]
    else:
        targets = [webhook for webhook, _ in await _webhooks_of(services, session)]
    filters = _filters({name: form.get(name) or "" for name in FILTER_NAMES})
    count = 0
    for webhook in targets:
        count += await services.webhooks.redeliver_matching(webhook, **filters)
    kept = {name: value for name in FILTER_NAMES if (value := _optional(form, name))}
    noun = "failed delivery" if count == 1 else "failed deliveries"
    return redirect(f"/deliveries?{urlencode(kept)}",
                    notice=f"{count} {noun} matching the filters enqueued again")


def _row_html(entry: DeliveryLog, webhook: Webhook) -> str:
    html = templates.get_template("delivery_row.html").render(d=entry, w=webhook)
    return "".join(line.strip() for line in html.splitlines())


async def tail(request: Request) -> Response:
    """New deliveries as server-sent events (`event: delivery`, one table row each), for as long
    as the page is open and the session's token works."""
    services = services_of(request)
    session = await current_session(request, services)
    if session is None:
        return Response("Sign in first", 401)
    query = request.query_params
    webhook_id = query.get("webhook") or None
    try:
        # The tail follows the page's filters, so a filtered view only grows by matching rows.
        status = _status_filter(query.get("status"))
        filters = _filters(query)
        rows, _ = await _deliveries(services, session, webhook_id, status, None, filters)
    except WahooksError as exc:
        return Response(exc.message, exc.status_code)
    newest = rows[0][0].id if rows else ""

    async def events() -> AsyncIterator[bytes]:
        nonlocal newest
        yield b": live tail\n\n"
        while not await request.is_disconnected():
            if await current_session(request, services) is None:
                return  # the token was revoked: the stream ends with the session
            found, _ = await _deliveries(services, session, webhook_id, status, None, filters)
            fresh = [pair for pair in found if pair[0].id > newest]
            for entry, webhook in reversed(fresh):
                yield f"event: delivery\ndata: {_row_html(entry, webhook)}\n\n".encode()
            if fresh:
                newest = fresh[0][0].id
            await asyncio.sleep(TAIL_POLL_SECONDS)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


routes = [
    Route("/webhooks", webhooks_page, methods=["GET"]),
    Route("/webhooks", create_webhook, methods=["POST"]),
    Route("/webhooks/{id}/toggle", toggle_webhook, methods=["POST"]),
    Route("/webhooks/{id}/enable", enable_webhook, methods=["POST"]),
    Route("/webhooks/{id}/test", test_webhook, methods=["POST"]),
    Route("/webhooks/{id}/delete", delete_webhook, methods=["POST"]),
    Route("/webhooks/{id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/webhooks/{id}/recover", recover, methods=["POST"]),
    Route("/webhooks/{id}/redeliver-failed", redeliver_failed, methods=["POST"]),
    Route("/webhooks/{webhook}/deliveries/{id}", delivery_page, methods=["GET"]),
    Route("/webhooks/{webhook}/deliveries/{id}/redeliver", redeliver, methods=["POST"]),
    Route("/deliveries", deliveries_page, methods=["GET"]),
    Route("/deliveries/tail", tail, methods=["GET"]),
    Route("/deliveries/retry-failed", retry_matching, methods=["POST"]),
]
