"""Live events: every accepted event, as a JSON frame, to its account's open WebSockets.

The ingest path calls `LiveEvents.publish` once an event is stored. Publishing never waits: each
subscriber (one open WebSocket) has its own bounded queue, and the WebSocket's own task sends from
it. A subscriber whose queue is full cannot keep up; it is dropped at once and its WebSocket
closed with 1008 and a reason saying so, so a slow client slows neither delivery nor the others.

Subscribers are registered per account, not per connection, so the events of connections created
after a WebSocket opened reach it too.

A frame is the original WAHooks shape: `{"event", "connectionId", "payload", "timestamp"}`, the
payload's `media.url` pointing at this API. A subscriber that asks for it also gets `"envelope"`:
the whole event exactly as a webhook receives it (`wahooks listen` forwards that).

Besides WhatsApp events, the stream says when a webhook of the account is disabled by wahooks or
enabled again (`webhook.disabled`, `webhook.enabled`; docs/delivery.md), in the same frame shape.
Those go only to subscribers without the envelope: a forwarder must not post them to its target.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from wahooks.clock import iso, now_ms
from wahooks.models import Connection
from wahooks.serialization import dumps
from wahooks.storage.records import WebhookStateChange

log = logging.getLogger(__name__)

MAX_QUEUED = 1000
TOO_SLOW = 1008


class Subscriber:
    """One open WebSocket: the frames waiting for it, and whether it must stop."""

    def __init__(self, user_id: str, *, base_url: str, envelope: bool, max_queued: int) -> None:
        self.user_id = user_id
        self.base_url = base_url
        self.envelope = envelope
        self.max_queued = max_queued
        self.stopped = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._frames: deque[str] = deque()
        self._ready = asyncio.Event()

    @property
    def queued(self) -> int:
        return len(self._frames)

    def offer(self, frame: str) -> bool:
        """Queue a frame; False once this subscriber has stopped, or stops now for being full."""
        if self.stopped.is_set():
            return False
        if len(self._frames) >= self.max_queued:
            self._frames.clear()
            self.stop(
                TOO_SLOW,
                f"Too slow: {self.max_queued} events were waiting to be sent; reconnect and"
                " read faster",
            )
            return False
        self._frames.append(frame)
        self._ready.set()
        return True

    def stop(self, code: int | None = None, reason: str = "") -> None:
        """End the stream: closed with `code` and `reason`, or just dropped (code None) when
        the client is already gone. The first reason given wins."""
        if self.stopped.is_set():
            return
        self.close_code, self.close_reason = code, reason
        self.stopped.set()
        self._ready.set()

    async def next_frame(self) -> str | None:
        """The next frame to send, waiting for one; None once stopped."""
        while not self.stopped.is_set():
            if self._frames:
                return self._frames.popleft()
            self._ready.clear()
            await self._ready.wait()
        return None


class LiveEvents:
    """The registry of open WebSockets per account, fed by the ingest path."""

    def __init__(self, *, max_queued: int = MAX_QUEUED) -> None:
        self.max_queued = max_queued
        self._by_user: dict[str, set[Subscriber]] = {}
        self.on_accounts_changed: Callable[[], None] | None = None
        """Told when the set of accounts with subscribers changes (cross-process fan-out)."""

    def accounts(self) -> set[str]:
        """The accounts that have at least one open WebSocket here."""
        return set(self._by_user)

    def subscribe(self, user_id: str, *, base_url: str, envelope: bool = False) -> Subscriber:
        subscriber = Subscriber(
            user_id, base_url=base_url, envelope=envelope, max_queued=self.max_queued
        )
        first = user_id not in self._by_user
        self._by_user.setdefault(user_id, set()).add(subscriber)
        if first and self.on_accounts_changed is not None:
            self.on_accounts_changed()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._by_user.get(subscriber.user_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._by_user[subscriber.user_id]
                if self.on_accounts_changed is not None:
                    self.on_accounts_changed()

    def subscribers(self) -> int:
        return sum(len(subscribers) for subscribers in self._by_user.values())

    def publish(self, connection: Connection, event: Mapping[str, Any], body: bytes) -> None:
        """An `Ingest` listener: queue the event's frame for each of the account's sockets."""
        subscribers = self._by_user.get(connection.user_id)
        if not subscribers:
            return
        try:
            frames = _Frames(connection, event, body)
            for subscriber in tuple(subscribers):
                if not subscriber.offer(frames.for_subscriber(subscriber)):
                    self.unsubscribe(subscriber)
                    log.warning(
                        "live event subscriber dropped",
                        extra={"action": "live.drop", "user_id": connection.user_id,
                               "code": subscriber.close_code},
                    )
        except Exception:
            # A live frame is a courtesy; the event is stored and its deliveries are on their
            # way, so nothing here may fail the ingest path.
            log.exception("live event not published", extra={"action": "live.error"})


    def publish_webhook_change(self, change: WebhookStateChange) -> None:
        """A webhook was disabled by wahooks or enabled again: tell the account's sockets."""
        subscribers = self._by_user.get(change.user_id)
        if not subscribers:
            return
        frame = webhook_change_frame(change)
        for subscriber in tuple(subscribers):
            if not subscriber.envelope and not subscriber.offer(frame):
                self.unsubscribe(subscriber)


def webhook_change_frame(change: WebhookStateChange) -> str:
    disabled = change.disabled_reason is not None
    return dumps({
        "event": "webhook.disabled" if disabled else "webhook.enabled",
        "connectionId": change.connection_id,
        "payload": {
            "webhookId": change.webhook_id,
            "active": not disabled,
            "disabledReason": None if change.disabled_reason is None
            else change.disabled_reason.value,
            "disabledAt": iso(change.disabled_at),
            "replayed": change.replayed,
        },
        "timestamp": iso(now_ms()),
    }).decode()


class _Frames:
    """One event's frames, built once per variant (media base URL, envelope or not)."""

    def __init__(self, connection: Connection, event: Mapping[str, Any], body: bytes) -> None:
        self._connection = connection
        self._event = event
        self._body = body
        self._timestamp = iso(now_ms())
        payload = event.get("payload")
        media = payload.get("media") if isinstance(payload, Mapping) else None
        url = media.get("url") if isinstance(media, Mapping) else None
        self._media_file = url.rsplit("/", 1)[-1] if isinstance(url, str) and url else None
        self._built: dict[tuple[str | None, bool], str] = {}

    def for_subscriber(self, subscriber: Subscriber) -> str:
        base_url = subscriber.base_url if self._media_file is not None else None
        key = (base_url, subscriber.envelope)
        frame = self._built.get(key)
        if frame is None:
            frame = self._built[key] = self._build(base_url, subscriber.envelope)
        return frame

    def _build(self, base_url: str | None, envelope: bool) -> str:
        payload = self._event.get("payload")
        if base_url is not None and isinstance(payload, Mapping):
            media = dict(payload["media"])
            media["url"] = (
                f"{base_url}/api/connections/{self._connection.id}/media/{self._media_file}"
            )
            payload = {**payload, "media": media}
        frame = dumps({
            "event": self._event.get("event"),
            "connectionId": self._connection.id,
            "payload": payload,
            "timestamp": self._timestamp,
        })
        if envelope:
            # The stored bytes themselves, so a forwarder can send exactly what webhooks get.
            frame = frame[:-1] + b',"envelope":' + self._body + b"}"
        return frame.decode()
