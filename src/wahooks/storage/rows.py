"""Rows to records, shared by the backends (ids may come as strings or UUID objects, flags as
integers or booleans, event lists as JSON text or arrays)."""

from __future__ import annotations

from typing import Any

import orjson

from wahooks.models import (
    STATUS_CLASSES,
    ApiToken,
    Attempt,
    Connection,
    ConnectionStatus,
    DeliveryLog,
    DeliveryStatus,
    DisabledReason,
    ErrorClass,
    Ordering,
    Trigger,
    User,
    Webhook,
    WebhookHealth,
)
from wahooks.storage.records import QueueDepth, WahaSession
from wahooks.storage.request_headers import Headers, request_headers

# The columns each record is built from, in the order the row converters read them.
CONNECTION_COLUMNS = (
    "id, user_id, name, session_name, phone_number, status, engine, created_at, updated_at"
)
WEBHOOK_COLUMNS = (
    "id, user_id, connection_id, url, events, signing_secret, active, created_at, updated_at,"
    " previous_secret, previous_secret_expires_at, disabled_reason, disabled_at, ordering"
)
TOKEN_COLUMNS = "id, user_id, name, token_prefix, active, last_used_at, created_at"
WAHA_SESSION_COLUMNS = "session_name, connection_id, server_url, hmac_key, created_at"
DELIVERY_COLUMNS = (
    "d.id, d.webhook_id, d.event_id, d.event_type, e.body, d.status, d.attempts,"
    " d.next_attempt_at, d.delivered_at, d.created_at"
)
ATTEMPT_COLUMNS = (
    "delivery_id, number, started_at, duration_ms, status_code, error, error_class,"
    " response_body, response_headers, triggered_by, request_headers"
)


def user_row(row: Any) -> User:
    id_, name, is_owner, created_at = row
    return User(str(id_), str(name), bool(is_owner), int(created_at))


def token_row(row: Any) -> ApiToken:
    id_, user_id, name, prefix, active, last_used_at, created_at = row
    return ApiToken(
        str(id_), str(user_id), str(name), str(prefix), bool(active),
        None if last_used_at is None else int(last_used_at),
        int(created_at),
    )


def connection_row(row: Any) -> Connection:
    id_, user_id, name, session, phone, status, engine, created_at, updated_at = row
    return Connection(
        str(id_), str(user_id), None if name is None else str(name), str(session),
        None if phone is None else str(phone), ConnectionStatus(status), str(engine),
        int(created_at), int(updated_at),
    )


def webhook_row(row: Any) -> Webhook:
    (id_, user_id, connection_id, url, events, secret, active, created_at, updated_at,
     previous, previous_expires_at, disabled_reason, disabled_at, ordering) = row
    names = orjson.loads(events) if isinstance(events, str) else events
    return Webhook(
        str(id_), str(user_id), str(connection_id), str(url), tuple(names), str(secret),
        bool(active), int(created_at), int(updated_at),
        None if previous is None else str(previous),
        None if previous_expires_at is None else int(previous_expires_at),
        None if disabled_reason is None else DisabledReason(disabled_reason),
        None if disabled_at is None else int(disabled_at),
        Ordering(ordering),
    )


def webhook_health_row(row: Any, attempts_row: Any, held: int) -> WebhookHealth:
    """From `webhook_health` (the counters), `attempts_24h` (attempts, successes) and the number
    of held deliveries."""
    last_success, last_failure, failing_since, dead_letters, dropped = row
    attempts, successes = attempts_row
    return WebhookHealth(
        _ms(last_success), _ms(last_failure), _ms(failing_since), int(dead_letters),
        int(attempts or 0), int(successes or 0), int(held), int(dropped),
    )


def _ms(value: Any) -> int | None:
    return None if value is None else int(value)


def waha_session_row(row: Any) -> WahaSession:
    session_name, connection_id, server_url, hmac_key, created_at = row
    return WahaSession(
        connection_id=str(connection_id), session_name=str(session_name),
        server_url=str(server_url), hmac_key=str(hmac_key), created_at=int(created_at),
    )


def delivery_logs(rows: list[Any], attempt_rows: list[Any]) -> list[DeliveryLog]:
    """Deliveries (DELIVERY_COLUMNS) with their attempts (ATTEMPT_COLUMNS, in number order)."""
    deliveries = {str(row[0]): row for row in rows}
    by_delivery: dict[str, list[Attempt]] = {}
    for (delivery_id, number, started_at, duration_ms, status_code, error, error_class,
         response_body, response_headers, triggered_by, sent) in attempt_rows:
        key = str(delivery_id)
        by_delivery.setdefault(key, []).append(Attempt(
            int(number), int(started_at), None if duration_ms is None else float(duration_ms),
            None if status_code is None else int(status_code), error,
            None if error_class is None else ErrorClass(error_class), response_body,
            headers_from_json(response_headers),
            None if triggered_by is None else Trigger(triggered_by),
            _sent_headers(sent, deliveries[key], int(number)),
        ))
    return [_delivery_log(row, by_delivery.get(str(row[0]), [])) for row in rows]


def _sent_headers(text: str | None, delivery: Any, number: int) -> Headers | None:
    """An attempt's request headers, rebuilt from what it stored and its delivery's row."""
    if text is None:
        return None
    id_, _webhook_id, _event_id, event_type, body = delivery[:5]
    return request_headers(text, delivery_id=str(id_), event_type=str(event_type),
                           attempt=number, body_length=len(body))


def _delivery_log(row: Any, attempts: list[Attempt]) -> DeliveryLog:
    id_, webhook_id, event_id, event_type, body, status, attempt_count, next_at, done_at, at = row
    return DeliveryLog(
        id=str(id_), webhook_id=str(webhook_id), event_id=str(event_id),
        event_type=str(event_type), body=bytes(body), status=DeliveryStatus(status),
        attempts=int(attempt_count), next_attempt_at=None if next_at is None else int(next_at),
        delivered_at=None if done_at is None else int(done_at), created_at=int(at),
        attempt_log=tuple(attempts),
    )


def headers_json(headers: tuple[tuple[str, str], ...]) -> str | None:
    """An attempt's kept response headers as stored: a JSON array of [name, value] pairs."""
    return orjson.dumps(headers).decode() if headers else None


def headers_from_json(text: str | None) -> tuple[tuple[str, str], ...]:
    if not text:
        return ()
    return tuple((str(name), str(value)) for name, value in orjson.loads(text))


def status_class_condition(status_class: str, delivery: str) -> str:
    """SQL (both dialects) true when the last attempt of `delivery` (an id column) is in the
    class: '2xx'..'5xx' by its HTTP status, 'none' when it got no HTTP answer. The class value
    is checked by the caller (STATUS_CLASSES), so this text holds no user input."""
    last = (
        f"(SELECT a.status_code FROM attempts a WHERE a.delivery_id = {delivery}"
        " ORDER BY a.number DESC LIMIT 1)"
    )
    if status_class == "none":
        return (
            f"EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = {delivery})"
            f" AND {last} IS NULL"
        )
    low = STATUS_CLASSES[status_class]
    return f"{last} BETWEEN {low} AND {low + 99}"


def queue_depth(status_rows: list[Any], oldest_due_age_ms: int | None) -> QueueDepth:
    """From `queue_depth` rows (status, count, leased count) and the oldest due age."""
    by_status = dict.fromkeys(DeliveryStatus, 0)
    leased = 0
    for status, count, leased_count in status_rows:
        by_status[DeliveryStatus(status)] = int(count)
        leased += int(leased_count)
    return QueueDepth(by_status, leased, max(int(oldest_due_age_ms or 0), 0))
