"""Every API method of the SDK, written once for the sync and the async client.

The method names, parameters, routes and request bodies are those of the official PyPI `wahooks`
0.11.0 client, so code written against it runs unchanged: what each method returns is the parsed
JSON answer, or None for an empty one. `_Api[R]` builds each request and hands it to `_call`, which
the sync client (`R` = the answer) and the async client (`R` = an awaitable of it) implement.

A few keyword-only extras reach what this server adds (log filters, redelivery, the raw QR text).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from wahooks.client.errors import WAHooksError
from wahooks.version import __version__

DEFAULT_BASE_URL = "https://api.wahooks.com"
TIMEOUT_SECONDS = 30.0

R = TypeVar("R")


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the None values (the official client drops them)."""
    kept = {key: value for key, value in (params or {}).items() if value is not None}
    return kept or None


def parse_answer(status_code: int, content: bytes, reason: str) -> Any:
    """The parsed JSON of an answer (None when empty); WAHooksError for a non-2xx status."""
    try:
        data = json.loads(content) if content else None
    except ValueError:
        data = content.decode("utf-8", "replace")
    if 200 <= status_code < 300:
        return data
    message: Any = data.get("message", reason) if isinstance(data, dict) else reason
    if isinstance(message, list):
        message = "; ".join(str(part) for part in message)
    raise WAHooksError(str(message or reason or f"HTTP {status_code}"), status_code, data)


def default_headers(api_key: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"wahooks-python/{__version__}",
    }
    if api_key:  # health checks need none; an empty "Bearer " is not a valid header
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


class _Api(ABC, Generic[R]):
    """The API's routes as methods. Subclasses send the requests."""

    base_url: str

    @abstractmethod
    def _call(
        self, method: str, path: str, *, json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> R:
        """Send one request to `{base_url}/api{path}`; the parsed answer, or WAHooksError."""

    # --- Health (no auth) ---

    def health(self) -> R:
        """`GET /api`: `{"status": "ok"}` while the server runs."""
        return self._call("GET", "")

    def get_me(self) -> R:
        """The authenticated account: `{"id", "email", "name", "isAdmin"}`."""
        return self._call("GET", "/me")

    # --- Connections ---

    def list_connections(self) -> R:
        return self._call("GET", "/connections")

    def create_connection(self, *, name: str | None = None) -> R:
        """A new connection waiting for its QR scan (`name` is this server's extra)."""
        return self._call("POST", "/connections", json={"name": name} if name else None)

    def get_or_create_scannable_connection(self, virgin_only: bool = False) -> R:
        """A connection ready to scan: `{"id", "status", "qr"}` (qr: base64 PNG or None).

        Reuses one of your connections that waits for a scan, else creates one. With
        `virgin_only=True` only connections never linked to a phone and without webhooks are
        reused.
        """
        return self._call(
            "POST", "/connections/get-or-create",
            json={"virgin_only": True} if virgin_only else None,
        )

    def get_connection(self, connection_id: str) -> R:
        return self._call("GET", f"/connections/{connection_id}")

    def delete_connection(self, connection_id: str) -> R:
        return self._call("DELETE", f"/connections/{connection_id}")

    def restart_connection(self, connection_id: str) -> R:
        return self._call("POST", f"/connections/{connection_id}/restart")

    def get_qr(self, connection_id: str, *, format: str | None = None) -> R:  # noqa: A002
        """`{"value": <base64 PNG>, "mimetype": "image/png"}`, or `{"connected": true}`.

        `format="raw"` asks for the QR's text instead (`{"value": <text>}`), where the server
        offers it; a server that does not answers the PNG form.
        """
        return self._call("GET", f"/connections/{connection_id}/qr", params={"format": format})

    def get_chats(
        self, connection_id: str, *, limit: int | None = None, offset: int | None = None,
        unread_only: bool = False,
    ) -> R:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if unread_only:
            params["unread_only"] = "true"
        return self._call("GET", f"/connections/{connection_id}/chats", params=params)

    def get_messages(
        self, connection_id: str, chat_id: str, *, limit: int = 50, before: str | None = None
    ) -> R:
        """A page of a chat's messages, newest first: `{"messages", "nextBefore",
        "historyStartsAt"}`; pass `nextBefore` as `before` for the next (older) page."""
        return self._call(
            "GET", f"/connections/{connection_id}/chats/{chat_id}/messages",
            params={"limit": limit, "before": before},
        )

    def get_message(self, connection_id: str, message_id: str, chat_id: str) -> R:
        return self._call(
            "GET", f"/connections/{connection_id}/messages/{message_id}",
            params={"chatId": chat_id},
        )

    def get_media_url(self, connection_id: str, message_id: str, chat_id: str) -> str:
        """The URL of a message's media (fetch it with the same Authorization header)."""
        return (
            f"{self.base_url}/api/connections/{connection_id}/messages/{message_id}/media"
            f"?chatId={chat_id}"
        )

    def get_contacts(
        self, connection_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> R:
        return self._call(
            "GET", f"/connections/{connection_id}/contacts",
            params={"limit": limit, "offset": offset},
        )

    def edit_message(self, connection_id: str, message_id: str, chat_id: str, text: str) -> R:
        return self._call(
            "PUT", f"/connections/{connection_id}/messages/{message_id}",
            json={"chatId": chat_id, "text": text},
        )

    def get_profile(self, connection_id: str) -> R:
        """The linked WhatsApp account (`{"id", "pushName", ...}`), None before linking."""
        return self._call("GET", f"/connections/{connection_id}/me")

    # --- Messaging ---

    def send_message(
        self, connection_id: str, chat_id: str, text: str, *, skip_presence: bool = False,
        reply_to: str | None = None,
    ) -> R:
        body: dict[str, Any] = {"chatId": chat_id, "text": text, "skipPresence": skip_presence}
        if reply_to:
            body["replyTo"] = reply_to
        return self._call("POST", f"/connections/{connection_id}/send", json=body)

    def react(self, connection_id: str, chat_id: str, message_id: str, reaction: str) -> R:
        """React to a message with an emoji; an empty string removes the reaction."""
        return self._call(
            "POST", f"/connections/{connection_id}/react",
            json={"chatId": chat_id, "messageId": message_id, "reaction": reaction},
        )

    def mark_read(self, connection_id: str, chat_id: str) -> R:
        return self._chat_action(connection_id, "mark-read", chat_id)

    def start_typing(self, connection_id: str, chat_id: str) -> R:
        return self._chat_action(connection_id, "typing", chat_id)

    def stop_typing(self, connection_id: str, chat_id: str) -> R:
        return self._chat_action(connection_id, "typing/stop", chat_id)

    # The send-* bodies carry every key, unused ones as null, as the official client sends them.

    def send_image(
        self, connection_id: str, chat_id: str, *, url: str | None = None,
        data: str | None = None, mimetype: str | None = None, caption: str | None = None,
        skip_presence: bool = False,
    ) -> R:
        """Send an image from `url`, or from `data` (base64) with its `mimetype`."""
        return self._send(connection_id, "send-image", {
            "chatId": chat_id, "url": url, "data": data, "mimetype": mimetype,
            "caption": caption, "skipPresence": skip_presence,
        })

    def send_document(
        self, connection_id: str, chat_id: str, *, url: str | None = None,
        data: str | None = None, mimetype: str | None = None, filename: str | None = None,
        caption: str | None = None, skip_presence: bool = False,
    ) -> R:
        return self._send(connection_id, "send-document", {
            "chatId": chat_id, "url": url, "data": data, "mimetype": mimetype,
            "filename": filename, "caption": caption, "skipPresence": skip_presence,
        })

    def send_video(
        self, connection_id: str, chat_id: str, *, url: str | None = None,
        data: str | None = None, mimetype: str | None = None, caption: str | None = None,
        skip_presence: bool = False,
    ) -> R:
        return self._send(connection_id, "send-video", {
            "chatId": chat_id, "url": url, "data": data, "mimetype": mimetype,
            "caption": caption, "skipPresence": skip_presence,
        })

    def send_audio(
        self, connection_id: str, chat_id: str, *, url: str | None = None,
        data: str | None = None, mimetype: str | None = None, skip_presence: bool = False,
    ) -> R:
        return self._send(connection_id, "send-audio", {
            "chatId": chat_id, "url": url, "data": data, "mimetype": mimetype,
            "skipPresence": skip_presence,
        })

    def send_location(
        self, connection_id: str, chat_id: str, latitude: float, longitude: float,
        name: str | None = None, address: str | None = None, skip_presence: bool = False,
    ) -> R:
        return self._send(connection_id, "send-location", {
            "chatId": chat_id, "latitude": latitude, "longitude": longitude, "name": name,
            "address": address, "skipPresence": skip_presence,
        })

    def send_contact(
        self, connection_id: str, chat_id: str, contact_name: str, contact_phone: str,
        skip_presence: bool = False,
    ) -> R:
        return self._send(connection_id, "send-contact", {
            "chatId": chat_id, "contactName": contact_name, "contactPhone": contact_phone,
            "skipPresence": skip_presence,
        })

    # --- Webhooks ---

    def list_webhooks(self, connection_id: str) -> R:
        return self._call("GET", f"/connections/{connection_id}/webhooks")

    def create_webhook(
        self, connection_id: str, url: str, events: list[str] | None = None, *,
        ordering: str | None = None,
    ) -> R:
        """A new webhook for `events` (all, `["*"]`, by default); the answer carries the
        `signingSecret` that signs every delivery. `ordering="chat"` delivers one chat's events
        one after another, in event order (default `"none"`: each on its own)."""
        body: dict[str, Any] = {"url": url, "events": events or ["*"]}
        if ordering is not None:
            body["ordering"] = ordering
        return self._call("POST", f"/connections/{connection_id}/webhooks", json=body)

    def update_webhook(self, webhook_id: str, **kwargs: Any) -> R:
        """Change any of `url`, `events`, `active` and `ordering` (`"chat"` or `"none"`).
        `active=True` on a webhook the server disabled (410 Gone, or failing for days) enables it
        and replays its held deliveries."""
        return self._call("PUT", f"/webhooks/{webhook_id}", json=kwargs)

    def get_webhook_health(self, webhook_id: str) -> R:
        """The endpoint's health: `lastSuccessAt`, `lastFailureAt`, `successRate24h`,
        `consecutiveDeadLetters`, `disabledReason` (gone, failing or None), `disabledAt`,
        `held` and `heldDropped`."""
        return self._call("GET", f"/webhooks/{webhook_id}/health")

    def delete_webhook(self, webhook_id: str) -> R:
        return self._call("DELETE", f"/webhooks/{webhook_id}")

    def get_webhook_logs(
        self, webhook_id: str, *, status: str | None = None, limit: int | None = None,
        before: str | None = None, event_type: str | None = None, since: str | None = None,
        until: str | None = None, status_class: str | None = None,
    ) -> R:
        """Deliveries, newest first (100 by default): `status` is pending, delivered,
        failed or held; `before` a log id to page from; `since`/`until` ISO 8601 event times;
        `status_class` the last attempt's 2xx, 3xx, 4xx, 5xx or none (no HTTP answer)."""
        return self._call(
            "GET", f"/webhooks/{webhook_id}/logs",
            params={"status": status, "limit": limit, "before": before,
                    "eventType": event_type, "since": since, "until": until,
                    "statusClass": status_class},
        )

    def get_webhook_log(self, webhook_id: str, log_id: str) -> R:
        """One delivery with every attempt and its detail."""
        return self._call("GET", f"/webhooks/{webhook_id}/logs/{log_id}")

    def recover(self, webhook_id: str, since: str, until: str | None = None) -> R:
        """Queue again the dead letters with event times in [since, until) that never
        succeeded: `{"success", "count"}`."""
        body = {"since": since} if until is None else {"since": since, "until": until}
        return self._call("POST", f"/webhooks/{webhook_id}/recover", json=body)

    def test_webhook(self, webhook_id: str) -> R:
        """Deliver the test event: `{"success": true, "logId", "message"}`."""
        return self._call("POST", f"/webhooks/{webhook_id}/test")

    def redeliver(self, webhook_id: str, log_id: str) -> R:
        """Deliver one logged event again."""
        return self._call("POST", f"/webhooks/{webhook_id}/logs/{log_id}/redeliver")

    def redeliver_failed(self, webhook_id: str) -> R:
        """Deliver every dead-lettered event of the webhook again: `{"success", "count"}`."""
        return self._call("POST", f"/webhooks/{webhook_id}/redeliver-failed")

    def rotate_secret(self, webhook_id: str, *, overlap_seconds: int | None = None) -> R:
        """A new signing secret, shown this once; the old one keeps signing for the overlap
        (default 24 h, at most 7 days): `{"success", "webhookId", "signingSecret",
        "previousSecretExpiresAt"}`."""
        body = {} if overlap_seconds is None else {"overlapSeconds": overlap_seconds}
        return self._call("POST", f"/webhooks/{webhook_id}/rotate-secret", json=body)

    # --- Sandbox engine (this server's extras; 404 with another engine) ---

    def sandbox_scan(self, connection_id: str) -> R:
        """Simulate a phone scanning the QR code: the connection becomes connected."""
        return self._call("POST", f"/connections/{connection_id}/sandbox/scan")

    def sandbox_inbound(self, connection_id: str, sender: str, body: str) -> R:
        """Simulate a contact (`sender`, e.g. "14155550123@c.us") writing `body` to the account:
        `{"id"}` of the message; webhooks get `message` and `message.any`."""
        return self._call(
            "POST", f"/connections/{connection_id}/sandbox/inbound",
            json={"from": sender, "body": body},
        )

    def sandbox_presence(self, connection_id: str, sender: str, presence: str) -> R:
        """Simulate a contact's presence (online, offline, typing, recording, paused)."""
        return self._call(
            "POST", f"/connections/{connection_id}/sandbox/presence",
            json={"from": sender, "presence": presence},
        )

    # --- API tokens ---

    def list_tokens(self) -> R:
        return self._call("GET", "/tokens")

    def create_token(self, name: str) -> R:
        """A new token; its `token` is shown only in this answer."""
        return self._call("POST", "/tokens", json={"name": name})

    def revoke_token(self, token_id: str) -> R:
        return self._call("DELETE", f"/tokens/{token_id}")

    # --- Billing (the hosted service's; a self-hosted server answers 404) ---

    def get_billing_status(self) -> R:
        return self._call("GET", "/billing/status")

    def set_slots(self, quantity: int) -> R:
        return self._call("PUT", "/billing/slots", json={"quantity": quantity})

    # ---

    def _chat_action(self, connection_id: str, action: str, chat_id: str) -> R:
        return self._call("POST", f"/connections/{connection_id}/{action}", json={"chatId": chat_id})

    def _send(self, connection_id: str, route: str, body: dict[str, Any]) -> R:
        return self._call("POST", f"/connections/{connection_id}/{route}", json=body)
