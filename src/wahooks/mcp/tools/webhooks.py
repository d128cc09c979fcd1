"""Webhooks and their deliveries: what was sent, how each attempt went, and sending again."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from wahooks.mcp.calls import Listing, call, listing
from wahooks.mcp.parameters import ConnectionId, LogId, WebhookId
from wahooks.mcp.tools.registry import ToolSet

tools = ToolSet()

Ordering = Annotated[Literal["none", "chat"] | None, Field(
    description='"chat": one chat\'s deliveries go one after another, in event order; "none": each'
                " on its own"
)]

Events = Annotated[list[str], Field(
    description='Event types, e.g. ["message", "message.any"], or ["*"] for all (see the '
                "wahooks://events resource)"
)]


@tools.read
async def list_webhooks(ctx: Context, connection_id: ConnectionId) -> Listing:
    """A connection's webhooks: id, url, events, active, ordering, and disabledReason when the
    server disabled one (gone: its endpoint answered 410; failing: it failed for days)."""
    return listing(await call(ctx, lambda api: api.list_webhooks(connection_id)))


@tools.write
async def create_webhook(
    ctx: Context,
    connection_id: ConnectionId,
    url: Annotated[str, Field(description="Where to POST each event (http or https)")],
    events: Annotated[list[str] | None, Field(
        description='Event types, e.g. ["message"]; all events ("*") when left out'
    )] = None,
    ordering: Ordering = None,
) -> dict[str, Any]:
    """A new webhook. Its signingSecret signs every delivery (see the wahooks://signatures
    resource): keep it for the receiver. ordering "chat" delivers each chat in order."""
    return await call(
        ctx, lambda api: api.create_webhook(connection_id, url, events, ordering=ordering)
    )


@tools.write
async def update_webhook(
    ctx: Context,
    webhook_id: WebhookId,
    url: Annotated[str | None, Field(description="A new target URL")] = None,
    events: Annotated[list[str] | None, Field(description="A new list of event types")] = None,
    active: Annotated[bool | None, Field(
        description="false pauses deliveries; true enables it again and replays what it held"
    )] = None,
    ordering: Ordering = None,
) -> dict[str, Any]:
    """Change a webhook's url, events, active flag or ordering (what is left out stays).
    active=true on a webhook the server disabled replays its held deliveries in event order."""
    changes = {"url": url, "events": events, "active": active, "ordering": ordering}
    return await call(ctx, lambda api: api.update_webhook(
        webhook_id, **{key: value for key, value in changes.items() if value is not None}
    ))


@tools.read
async def get_webhook_health(ctx: Context, webhook_id: WebhookId) -> dict[str, Any]:
    """How the webhook's endpoint has been answering: lastSuccessAt, lastFailureAt,
    successRate24h, consecutiveDeadLetters, disabledReason and disabledAt, and how many
    deliveries it holds (held while disabled; update_webhook with active=true replays them)."""
    return await call(ctx, lambda api: api.get_webhook_health(webhook_id))


@tools.destroy
async def delete_webhook(ctx: Context, webhook_id: WebhookId) -> dict[str, Any]:
    """Delete a webhook and its delivery logs."""
    return await call(ctx, lambda api: api.delete_webhook(webhook_id))


@tools.write
async def test_webhook(ctx: Context, webhook_id: WebhookId) -> dict[str, Any]:
    """Deliver a test event to the webhook now; its delivery shows in get_delivery_logs."""
    return await call(ctx, lambda api: api.test_webhook(webhook_id))


@tools.read
async def get_delivery_logs(
    ctx: Context,
    webhook_id: WebhookId,
    status: Annotated[Literal["pending", "delivered", "failed", "held"] | None, Field(
        description="Only deliveries in this state (failed: dead-lettered after every retry;"
                    " held: kept while the webhook is disabled)"
    )] = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="At most this many")] = 20,
    before: Annotated[str | None, Field(
        description="Only deliveries older than this log id (the last id of the previous page)"
    )] = None,
    event_type: Annotated[str | None, Field(description="Only this event type")] = None,
    since: Annotated[str | None, Field(
        description="Only events at or after this ISO 8601 time"
    )] = None,
    until: Annotated[str | None, Field(description="Only events before this ISO 8601 time")] = None,
    status_class: Annotated[Literal["2xx", "3xx", "4xx", "5xx", "none"] | None, Field(
        description="Only deliveries whose last attempt got this HTTP status class"
                    " (none: no HTTP answer, e.g. a timeout)"
    )] = None,
) -> Listing:
    """The webhook's deliveries, newest first: event, status, the body sent,
    and every attempt with its time, HTTP status or error, and duration."""
    return listing(await call(ctx, lambda api: api.get_webhook_logs(
        webhook_id, status=status, limit=limit, before=before, event_type=event_type,
        since=since, until=until, status_class=status_class,
    )))


@tools.read
async def get_delivery(ctx: Context, webhook_id: WebhookId, log_id: LogId) -> dict[str, Any]:
    """One delivery with every attempt: when, duration, HTTP status, errorClass, the start of
    the response body, a few response headers and the trigger (scheduled, manual, recover,
    replay, test)."""
    return await call(ctx, lambda api: api.get_webhook_log(webhook_id, log_id))


@tools.write
async def redeliver(ctx: Context, webhook_id: WebhookId, log_id: LogId) -> dict[str, Any]:
    """Deliver one logged event again (a delivered or a dead-lettered one)."""
    return await call(ctx, lambda api: api.redeliver(webhook_id, log_id))


@tools.write
async def redeliver_failed(ctx: Context, webhook_id: WebhookId) -> dict[str, Any]:
    """Deliver every dead-lettered event of the webhook again: {success, count}."""
    return await call(ctx, lambda api: api.redeliver_failed(webhook_id))


@tools.write
async def rotate_secret(
    ctx: Context,
    webhook_id: WebhookId,
    overlap_seconds: Annotated[int | None, Field(
        description="How long the old secret keeps signing, in seconds (default 86400 = 24 h, "
                    "at most 604800 = 7 days, 0 ends it at once)", ge=0, le=604800,
    )] = None,
) -> dict[str, Any]:
    """A new signing secret for the webhook, shown in this answer only; the old one keeps
    verifying until previousSecretExpiresAt (see the wahooks://signatures resource)."""
    return await call(
        ctx, lambda api: api.rotate_secret(webhook_id, overlap_seconds=overlap_seconds)
    )


@tools.write
async def recover_deliveries(
    ctx: Context,
    webhook_id: WebhookId,
    since: Annotated[str, Field(description="Events at or after this ISO 8601 time")],
    until: Annotated[str | None, Field(
        description="Events before this ISO 8601 time (now when left out); at most 14 days"
                    " after since"
    )] = None,
) -> dict[str, Any]:
    """Deliver again, in event order, the dead-lettered events of a time window that never
    succeeded (at most 10,000): {success, count}."""
    return await call(ctx, lambda api: api.recover(webhook_id, since, until))
