"""JSON wire shapes: how records look on the API (camelCase, ISO times, the original's field names),
and the request bodies the API accepts, validated with the original's error messages.

JSON null in a request body means "absent" (the official Python SDK sends every optional key, unused
ones as null).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wahooks.clock import iso
from wahooks.errors import ValidationFailed
from wahooks.models import (
    ApiToken,
    Attempt,
    Connection,
    ConnectionStatus,
    DeliveryLog,
    Ordering,
    Webhook,
    WebhookHealth,
)

# The events WAHA can emit (its OpenAPI webhook enum), "*" for all, and our "test".
EVENT_NAMES = (
    "*", "session.status", "message", "message.reaction", "message.any", "message.ack",
    "message.ack.group", "message.waiting", "message.revoked", "message.edited", "state.change",
    "group.join", "group.leave", "group.v2.join", "group.v2.leave", "group.v2.update",
    "group.v2.participants", "presence.update", "poll.vote", "poll.vote.failed", "chat.archive",
    "call.received", "call.accepted", "call.rejected", "label.upsert", "label.deleted",
    "label.chat.added", "label.chat.deleted", "event.response", "event.response.failed",
    "engine.event", "test",
)


def api_status(status: ConnectionStatus) -> str:
    """The API says `connected` where the database says `working` (the original's mapping)."""
    return "connected" if status is ConnectionStatus.WORKING else status.value


def connection_json(connection: Connection, *, raw_status: bool = False) -> dict[str, Any]:
    return {
        "id": connection.id,
        "userId": connection.user_id,
        "workerId": None,
        "name": connection.name,
        "sessionName": connection.session_name,
        "phoneNumber": connection.phone_number,
        "status": connection.status.value if raw_status else api_status(connection.status),
        "engine": connection.engine,
        "createdAt": iso(connection.created_at),
        "updatedAt": iso(connection.updated_at),
    }


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "userId": webhook.user_id,
        "sessionId": webhook.connection_id,
        "url": webhook.url,
        "events": list(webhook.events),
        "signingSecret": webhook.signing_secret,
        # A webhook wahooks disabled shows as off to the original's clients; beside the original's
        # fields, why and since when (null for one switched off by hand).
        "active": webhook.enabled,
        "createdAt": iso(webhook.created_at),
        "updatedAt": iso(webhook.updated_at),
        "disabledReason": None if webhook.disabled_reason is None
        else webhook.disabled_reason.value,
        "disabledAt": iso(webhook.disabled_at),
        "ordering": webhook.ordering.value,
    }


def health_json(webhook: Webhook, health: WebhookHealth) -> dict[str, Any]:
    rate = health.success_rate_24h
    return {
        "webhookId": webhook.id,
        "active": webhook.enabled,
        "disabledReason": None if webhook.disabled_reason is None
        else webhook.disabled_reason.value,
        "disabledAt": iso(webhook.disabled_at),
        "lastSuccessAt": iso(health.last_success_at),
        "lastFailureAt": iso(health.last_failure_at),
        "failingSince": iso(health.failing_since),
        "consecutiveDeadLetters": health.consecutive_dead_letters,
        "attempts24h": health.attempts_24h,
        "successes24h": health.successes_24h,
        "successRate24h": None if rate is None else round(rate, 4),
        "held": health.held,
        "heldDropped": health.held_dropped,
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "tokenPrefix": token.token_prefix,
        "active": token.active,
        "lastUsedAt": iso(token.last_used_at),
        "createdAt": iso(token.created_at),
    }


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt": attempt.number,
        "at": iso(attempt.started_at),
        "statusCode": attempt.status_code,
        "error": attempt.error,
        "durationMs": attempt.duration_ms,
        # Beside the original's fields: the attempt's detail.
        "errorClass": None if attempt.error_class is None else attempt.error_class.value,
        "responseBody": attempt.response_body,
        "responseHeaders": dict(attempt.response_headers),
        "trigger": None if attempt.trigger is None else attempt.trigger.value,
        # As written on the wire, in order; null when not recorded (docs/delivery.md).
        "requestHeaders": None if attempt.request_headers is None
        else dict(attempt.request_headers),
    }


def log_json(log: DeliveryLog) -> dict[str, Any]:
    """The original's WebhookLog shape, plus where the delivery stands and every attempt."""
    last = log.attempt_log[-1] if log.attempt_log else None
    return {
        "id": log.id,
        "webhookConfigId": log.webhook_id,
        "eventType": log.event_type,
        "payload": orjson.Fragment(log.body),  # the stored bytes, not re-serialised
        "status": log.status.value,
        "attempts": log.attempts,
        "deliveredAt": iso(log.delivered_at),
        "createdAt": iso(log.created_at),
        "eventId": log.event_id,
        "nextAttemptAt": iso(log.next_attempt_at) if log.status.value == "pending" else None,
        "lastError": last.error if last else None,
        "lastStatusCode": last.status_code if last else None,
        "attemptLog": [attempt_json(attempt) for attempt in log.attempt_log],
    }


# request bodies ---------------------------------------------------------------------------------


def present(body: Mapping[str, Any], key: str) -> Any:
    """The value of `key`, None when missing or JSON null (both mean absent)."""
    return body.get(key)


def events_field(value: Any, errors: list[str]) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        errors.append("events must be an array")
        return None
    if not all(isinstance(name, str) for name in value):
        errors.append("each value in events must be a string")
        return None
    unknown = [name for name in value if name not in EVENT_NAMES]
    if unknown:
        errors.append(
            f"events contains unknown event names ({', '.join(unknown)});"
            f" valid names are: {', '.join(EVENT_NAMES)}"
        )
        return None
    if not value:
        errors.append("events should not be empty (use [\"*\"] for all events)")
        return None
    return tuple(dict.fromkeys(value))


def ordering_field(value: Any, errors: list[str]) -> Ordering | None:
    """`ordering`: "chat" or "none" (None: absent)."""
    if value is None:
        return None
    if isinstance(value, str) and value in Ordering.__members__.values():
        return Ordering(value)
    shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
    errors.append(
        f"ordering must be one of: {', '.join(o.value for o in Ordering)} (got {shown})"
    )
    return None


def string_field(
    body: Mapping[str, Any], key: str, errors: list[str], *, required: bool, max_length: int = 200
) -> str | None:
    value = present(body, key)
    if value is None:
        if required:
            errors.append(f"{key} must be a non-empty string")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        errors.append(f"{key} must be a non-empty string")
        return None
    if len(value) > max_length:
        errors.append(f"{key} must be shorter than or equal to {max_length} characters")
        return None
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; no name needs one
        errors.append(f"{key} must not contain NUL characters")
        return None
    return value


def string_schema(*, required: bool, max_length: int = 200, **extra: Any) -> dict[str, Any]:
    """The JSON schema of what `string_field` accepts, for the OpenAPI document: no NUL, and when
    required something besides white space; an optional one may be null."""
    if required:
        return {"type": "string", "minLength": 1, "maxLength": max_length,
                "pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$", **extra}
    return {"type": ["string", "null"], "maxLength": max_length, "pattern": r"^[^\u0000]*$",
            **extra}


def raise_if(errors: list[str]) -> None:
    if errors:
        raise ValidationFailed(errors)
