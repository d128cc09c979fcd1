"""Webhooks: where a connection's events go, and what can be done with their deliveries.

The rules live here, the routes only translate HTTP: who may touch a webhook (its account; another
account's id is 403, an unknown or malformed one 404), what a valid target is (the target policy,
checked again at connect time), the secret made at creation, and redelivery, which wakes the
dispatcher so that it does not wait for its next look at the database.
"""

from __future__ import annotations

from typing import Any, Protocol

from wahooks.clock import now_ms
from wahooks.delivery.targets import InvalidTargetURL, TargetPolicy, TargetRefused
from wahooks.errors import Conflict, Forbidden, NotFound, ValidationFailed
from wahooks.ids import parse_uuid, uuid7
from wahooks.models import Connection, DeliveryLog, DeliveryStatus, User, Webhook
from wahooks.schemas import events_field, raise_if
from wahooks.signing import signing_secret


class WebhookStore(Protocol):
    async def create_webhook(self, webhook: Webhook) -> None: ...
    async def get_webhook(self, webhook_id: str) -> Webhook | None: ...
    async def list_webhooks(self, connection_id: str) -> list[Webhook]: ...
    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: tuple[str, ...] | None = None,
        active: bool | None = None,
    ) -> Webhook: ...
    async def delete_webhook(self, webhook_id: str) -> None: ...


class DeliveryLogStore(Protocol):
    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[DeliveryLog]: ...
    async def get_delivery(self, delivery_id: str) -> DeliveryLog | None: ...
    async def redeliver(self, webhook_id: str, delivery_ids: list[str] | None) -> list[str]:
        """Make deliveries due again (the given ones, or every dead letter); their ids."""
        ...


class TestEvents(Protocol):
    async def send_test(self, webhook: Webhook) -> str:
        """Deliver the test event; the new delivery's id."""
        ...


class Wakeable(Protocol):
    def poke(self) -> None:
        """Deliveries are due in the database: look now."""
        ...


class WebhookService:
    def __init__(
        self,
        webhooks: WebhookStore,
        deliveries: DeliveryLogStore,
        targets: TargetPolicy,
        tests: TestEvents,
        dispatcher: Wakeable,
    ) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._targets = targets
        self._tests = tests
        self._dispatcher = dispatcher

    async def owned(self, user: User, webhook_id: str) -> Webhook:
        canonical = parse_uuid(webhook_id)
        webhook = None if canonical is None else await self._webhooks.get_webhook(canonical)
        if webhook is None:
            raise NotFound("Webhook config not found")
        if webhook.user_id != user.id:
            raise Forbidden("You do not own this webhook config")
        return webhook

    async def of_connection(self, connection: Connection) -> list[Webhook]:
        return await self._webhooks.list_webhooks(connection.id)

    async def create(self, user: User, connection: Connection, *, url: Any, events: Any) -> Webhook:
        """A new webhook with a fresh signing secret; `url` and `events` as the client sent them."""
        errors: list[str] = []
        checked_url = await self._checked_url(url, errors)
        checked_events = events_field(events, errors)
        raise_if(errors)
        assert checked_url is not None and checked_events is not None
        now = now_ms()
        webhook = Webhook(
            id=uuid7(), user_id=user.id, connection_id=connection.id, url=checked_url,
            events=checked_events, signing_secret=signing_secret(), active=True, created_at=now,
            updated_at=now,
        )
        await self._webhooks.create_webhook(webhook)
        return webhook

    async def update(
        self, webhook: Webhook, *, url: Any = None, events: Any = None, active: Any = None
    ) -> Webhook:
        """Change what was given (None: unchanged)."""
        errors: list[str] = []
        checked_url = checked_events = None
        if url is not None:
            checked_url = await self._checked_url(url, errors)
        if events is not None:
            checked_events = events_field(events, errors)
        if active is not None and not isinstance(active, bool):
            errors.append("active must be a boolean value")
        raise_if(errors)
        return await self._webhooks.update_webhook(
            webhook.id, url=checked_url, events=checked_events, active=active
        )

    async def delete(self, webhook: Webhook) -> None:
        """The webhook and its whole delivery log."""
        await self._webhooks.delete_webhook(webhook.id)

    async def logs(
        self, webhook: Webhook, *, status: DeliveryStatus | None, limit: int, before: str | None
    ) -> list[DeliveryLog]:
        """Deliveries newest first; `before` is a log id to page on from."""
        cursor = None
        if before is not None:
            cursor = parse_uuid(before)
            if cursor is None:
                raise ValidationFailed(["before must be a log id"])
        return await self._deliveries.list_deliveries(
            webhook.id, status=status, limit=limit, before=cursor
        )

    async def delivery(self, webhook: Webhook, log_id: str) -> DeliveryLog:
        """One delivery of the webhook, with every attempt."""
        canonical = parse_uuid(log_id)
        entry = None if canonical is None else await self._deliveries.get_delivery(canonical)
        if entry is None or entry.webhook_id != webhook.id:
            raise NotFound("Webhook log not found")
        return entry

    async def test(self, webhook: Webhook) -> str:
        return await self._tests.send_test(webhook)

    async def redeliver(self, webhook: Webhook, log_id: str) -> str:
        """Deliver one logged event again, dead-lettered or delivered; its log id."""
        canonical = parse_uuid(log_id)
        entry = None if canonical is None else await self._deliveries.get_delivery(canonical)
        if entry is None or entry.webhook_id != webhook.id:
            raise NotFound("Webhook log not found")
        if entry.status is DeliveryStatus.PENDING:
            raise Conflict("This delivery is still pending; it will be attempted again by itself")
        await self._deliveries.redeliver(webhook.id, [entry.id])
        self._dispatcher.poke()
        return entry.id

    async def redeliver_failed(self, webhook: Webhook) -> int:
        """Deliver every dead letter of the webhook again; how many."""
        ids = await self._deliveries.redeliver(webhook.id, None)
        self._dispatcher.poke()
        return len(ids)

    async def _checked_url(self, value: Any, errors: list[str]) -> str | None:
        if not isinstance(value, str):
            errors.append("url must be a URL address")
            return None
        try:
            return await self._targets.check_url_resolving(value)
        except InvalidTargetURL:
            errors.append("url must be a URL address")
        except TargetRefused as exc:
            errors.append(str(exc))
        return None
