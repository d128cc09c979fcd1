"""`wahooks webhooks` (`wh`, `w`): where a connection's events go, and their delivery logs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import click
from rich.text import Text

from wahooks.cli import output
from wahooks.cli.aliases import AliasedGroup
from wahooks.cli.api_access import Api, api_command
from wahooks.cli.root import main

_LOG_STATUS_STYLE = {
    "delivered": "green", "failed": "red", "pending": "yellow", "held": "magenta",
}


@main.group(cls=AliasedGroup, aliases=("wh", "w"))
def webhooks() -> None:
    """Manage webhooks: URLs that receive a connection's events, signed."""


# The event names a webhook may subscribe to (the server's list; a unit test keeps them equal).
# Kept here so the light install's CLI can show them without the server's modules.
EVENT_NAMES = (
    "*", "session.status", "message", "message.reaction", "message.any", "message.ack",
    "message.ack.group", "message.waiting", "message.revoked", "message.edited", "state.change",
    "group.join", "group.leave", "group.v2.join", "group.v2.leave", "group.v2.update",
    "group.v2.participants", "presence.update", "poll.vote", "poll.vote.failed", "chat.archive",
    "call.received", "call.accepted", "call.rejected", "label.upsert", "label.deleted",
    "label.chat.added", "label.chat.deleted", "event.response", "event.response.failed",
    "engine.event", "test",
)
_EVENTS_HELP = "Event names: " + ", ".join(EVENT_NAMES) + " (* = all)."


def _webhook_url(url: str) -> str:
    """Say what is wrong with a webhook URL before asking the server (which answers the
    original's `url must be a URL address`, kept word for word, followed by the reason)."""
    example = "e.g. http://localhost:3000/webhook"
    if "://" not in url:
        output.fail(f"The webhook URL {url!r} has no scheme",
                    f"Write it with http:// or https://, {example}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        output.fail(f"The webhook URL {url!r} must use http or https, not {parts.scheme!r}",
                    example)
    try:
        port = parts.port
    except ValueError:
        output.fail(f"The webhook URL {url!r} has an invalid port", "Ports are 1 to 65535.")
    if port == 0:
        output.fail(f"The webhook URL {url!r} has an invalid port", "Ports are 1 to 65535.")
    if not parts.hostname:
        output.fail(f"The webhook URL {url!r} has no host", example)
    return url


_ORDERING_HELP = (
    "chat: one chat's deliveries go one after another, in event order; none: each on its own"
)


def _events(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        output.fail(f"No event names in {value!r}",
                    "Give one or more, comma separated, or * for all. " + _EVENTS_HELP)
    return names


@webhooks.command("list", aliases=("ls",))
@click.argument("connection_id")
@api_command()
def list_webhooks(api: Api, connection_id: str) -> None:
    """List a connection's webhooks."""
    found = api.client.list_webhooks(connection_id)
    if api.as_json:
        return output.emit_json(found)
    if not found:
        return output.dim(
            f"No webhooks yet. Create one: wahooks webhooks create {connection_id} URL"
        )
    rows = [
        (w["id"], _active_cell(w), w["url"], ",".join(w.get("events") or []),
         w.get("ordering") or "none")
        for w in found
    ]
    output.table(("ID", "ACTIVE", "URL", "EVENTS", "ORDERING"), rows, noun="webhook")


def _active_cell(webhook: dict[str, Any]) -> Text:
    """`true`, `false` (switched off by hand), or `false (gone since ...)` when the server
    disabled it: its events are held until `wahooks webhooks enable`."""
    if webhook["active"]:
        return Text("true", style="green")
    reason = webhook.get("disabledReason")
    if reason:
        return Text(f"false ({reason} since {webhook.get('disabledAt')})", style="magenta")
    return Text("false", style="red")


@webhooks.command("create", epilog=_EVENTS_HELP)
@click.argument("connection_id")
@click.argument("url")
@click.argument("events", required=False, default="*", metavar="[EVENTS]")
@click.option("--ordering", type=click.Choice(["none", "chat"]), default="none",
              show_default=True, help=_ORDERING_HELP)
@api_command()
def create_webhook(api: Api, connection_id: str, url: str, events: str, ordering: str) -> None:
    """Create a webhook for EVENTS (comma separated; default: all, `*`)."""
    created = api.client.create_webhook(
        connection_id, _webhook_url(url), _events(events),
        ordering=None if ordering == "none" else ordering,
    )
    if api.as_json:
        return output.emit_json(created)
    output.success(f"Created webhook {created['id']}")
    output.panel(
        "Signing secret",
        f"{created['signingSecret']}\n\nEvery delivery is signed with it (X-WAHooks-Signature);"
        " verify it in your receiver with wahooks.verify_signature. Keep it secret.",
        style="yellow",
    )


@webhooks.command("update")
@click.argument("webhook_id")
@click.option("--url", help="New URL")
@click.option("--events", help="New events, comma separated")
@click.option("--active", type=bool, help="true to deliver, false to pause")
@click.option("--ordering", type=click.Choice(["none", "chat"]), help=_ORDERING_HELP)
@click.option("--show-secret", is_flag=True, help="Also print the webhook's signing secret")
@api_command()
def update_webhook(
    api: Api, webhook_id: str, url: str | None, events: str | None, active: bool | None,
    ordering: str | None, show_secret: bool,
) -> None:
    """Change a webhook's URL, events, active flag or ordering."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = _webhook_url(url)
    if events is not None:
        changes["events"] = _events(events)
    if active is not None:
        changes["active"] = active
    if ordering is not None:
        changes["ordering"] = ordering
    if not changes:
        output.fail(
            "Nothing to change", "Give at least one of --url, --events, --active, --ordering."
        )
    updated = api.client.update_webhook(webhook_id, **changes)
    if isinstance(updated, dict) and not show_secret:
        # The answer carries the secret, but changing a URL is no reason to put it on a screen
        # or in a terminal log; it is shown when created, or here on request.
        updated.pop("signingSecret", None)
    if api.as_json:
        return output.emit_json(updated)
    output.err().print(f"[green] ✓ Updated webhook {webhook_id}[/]")
    api.show(updated)


@webhooks.command("health")
@click.argument("webhook_id")
@api_command()
def health(api: Api, webhook_id: str) -> None:
    """Show how a webhook's endpoint has been answering, and whether it is disabled."""
    found = api.client.get_webhook_health(webhook_id)
    if api.as_json:
        return output.emit_json(found)
    rate = found.get("successRate24h")
    state = "enabled" if found["active"] else (
        f"disabled by the server: {found['disabledReason']} since {found['disabledAt']}"
        if found.get("disabledReason") else "switched off"
    )
    rows = [
        ("state", state),
        ("last success", found.get("lastSuccessAt") or "never"),
        ("last failure", found.get("lastFailureAt") or "never"),
        ("failing since", found.get("failingSince") or "-"),
        ("success rate (24 h)", "-" if rate is None else
         f"{rate:.1%} of {found.get('attempts24h')} attempts"),
        ("consecutive dead letters", str(found.get("consecutiveDeadLetters"))),
        ("held", str(found.get("held"))),
        ("held dropped (cap)", str(found.get("heldDropped"))),
    ]
    output.table(("", webhook_id), rows, noun="line")
    if found.get("disabledReason") or found.get("held"):
        output.dim(f"Enable it and replay what it holds: wahooks webhooks enable {webhook_id}")


@webhooks.command("enable")
@click.argument("webhook_id")
@api_command()
def enable(api: Api, webhook_id: str) -> None:
    """Switch a webhook on; one the server disabled also gets its held deliveries replayed, in
    event order."""
    held = api.client.get_webhook_health(webhook_id).get("held") or 0
    updated = api.client.update_webhook(webhook_id, active=True)
    if isinstance(updated, dict):
        updated.pop("signingSecret", None)
    if api.as_json:
        return output.emit_json(updated)
    replayed = f"; {held} held deliver{'y' if held == 1 else 'ies'} replayed" if held else ""
    output.success(f"Enabled webhook {webhook_id}{replayed}")


@webhooks.command("delete", aliases=("rm",))
@click.argument("webhook_id")
@api_command()
def delete_webhook(api: Api, webhook_id: str) -> None:
    """Delete a webhook and its logs."""
    deleted = api.client.delete_webhook(webhook_id)
    if api.as_json:
        return output.emit_json(deleted)
    output.success("Webhook deleted")


@webhooks.command("logs")
@click.argument("webhook_id")
@click.option("-v", "--verbose", is_flag=True,
              help="Show each event's whole body, its attempts and when a pending one is next tried")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed", "held"]),
              help="Only deliveries in this state")
@click.option("--limit", type=click.IntRange(1, 1000), help="Deliveries to show at most [100]")
@click.option("--event", "event_type", help="Only this event type")
@click.option("--since", help="Only events at or after this ISO 8601 time")
@click.option("--until", help="Only events before this ISO 8601 time")
@click.option("--status-class", type=click.Choice(["2xx", "3xx", "4xx", "5xx", "none"]),
              help="Only deliveries whose last attempt got this HTTP status class (none: no answer)")
@api_command()
def logs(api: Api, webhook_id: str, verbose: bool, status: str | None,
         limit: int | None, event_type: str | None, since: str | None, until: str | None,
         status_class: str | None) -> None:
    """Show a webhook's deliveries, newest first, with each one's attempts."""
    found = api.client.get_webhook_logs(
        webhook_id, status=status, limit=limit, event_type=event_type, since=since,
        until=until, status_class=status_class,
    )
    if api.as_json:
        return output.emit_json(found)
    if not found:
        return output.dim("No deliveries yet. Send one: wahooks webhooks test " + webhook_id)
    rows = [
        (entry["id"], entry.get("eventType") or "",
         Text(entry["status"], style=_LOG_STATUS_STYLE.get(entry["status"], "")),
         str(entry.get("attempts", "")), entry.get("createdAt") or "")
        for entry in found
    ]
    output.table(("ID", "EVENT", "STATUS", "TRIES", "CREATED"), rows, noun="log")
    for entry in found:
        _detail(entry, verbose)


def _detail(entry: dict[str, Any], verbose: bool) -> None:
    payload = entry.get("payload")
    inner = payload.get("payload") if isinstance(payload, dict) else None
    body = inner.get("body") if isinstance(inner, dict) else None
    error = entry.get("lastError")
    if not (verbose or body or error):
        return
    output.plain(f"{entry['id']}  {entry.get('eventType')}")
    if body:
        output.dim(f"  └─ {body}")
    if error:
        output.dim(f"  └─ last error: {error}")
    if verbose and entry.get("nextAttemptAt"):
        output.dim(f"  └─ next attempt at {entry['nextAttemptAt']}")
    if verbose:
        output.dim("  └─ payload: " + json.dumps(payload, ensure_ascii=False))
        for attempt in entry.get("attemptLog") or []:
            _attempt_lines(attempt)


def _attempt_lines(attempt: dict[str, Any], *, verbose: bool = False) -> None:
    result = attempt.get("statusCode") or attempt.get("error")
    trigger = attempt.get("trigger") or "?"
    kind = f" [{attempt['errorClass']}]" if attempt.get("errorClass") else ""
    output.dim(f"     attempt {attempt.get('attempt')} ({trigger}) at {attempt.get('at')}:"
               f" {result}{kind} ({attempt.get('durationMs')} ms)")
    if verbose:
        sent = attempt.get("requestHeaders")
        output.dim("       request headers:" + ("" if sent else " not recorded"))
        for name, value in (sent or {}).items():
            output.dim(f"         {name}: {value}")
    for name, value in (attempt.get("responseHeaders") or {}).items():
        output.dim(f"       {name}: {value}")
    if attempt.get("responseBody"):
        output.dim(f"       body: {attempt['responseBody']}")


@webhooks.command("attempts")
@click.argument("webhook_id")
@click.argument("log_id")
@click.option("-v", "--verbose", is_flag=True,
              help="Also show the request headers each attempt sent")
@api_command()
def attempts(api: Api, webhook_id: str, log_id: str, verbose: bool) -> None:
    """Show one delivery (LOG_ID) with every attempt and its detail."""
    entry = api.client.get_webhook_log(webhook_id, log_id)
    if api.as_json:
        return output.emit_json(entry)
    output.plain(f"{entry['id']}  {entry.get('eventType')}  {entry['status']}"
                 f"  ({entry.get('attempts')} attempts)")
    if entry.get("nextAttemptAt"):
        output.dim(f"  next attempt at {entry['nextAttemptAt']}")
    for attempt in entry.get("attemptLog") or []:
        _attempt_lines(attempt, verbose=verbose)


@webhooks.command("recover")
@click.argument("webhook_id")
@click.option("--since", required=True, help="Events at or after this ISO 8601 time")
@click.option("--until", help="Events before this ISO 8601 time [now]")
@api_command()
def recover(api: Api, webhook_id: str, since: str, until: str | None) -> None:
    """Deliver again the dead letters of a time window that never succeeded (at most 14 days,
    10,000 deliveries)."""
    result = api.client.recover(webhook_id, since, until)
    if api.as_json:
        return output.emit_json(result)
    count = result["count"]
    output.success(f"{count} dead-lettered deliver{'y' if count == 1 else 'ies'} queued again")


@webhooks.command("test")
@click.argument("webhook_id")
@api_command()
def test_webhook(api: Api, webhook_id: str) -> None:
    """Deliver the test event to a webhook."""
    result = api.client.test_webhook(webhook_id)
    if api.as_json:
        return output.emit_json(result)
    output.success(f"Test event enqueued (log: {result['logId']})")


@webhooks.command("redeliver")
@click.argument("webhook_id")
@click.argument("log_id", required=False)
@api_command()
def redeliver(api: Api, webhook_id: str, log_id: str | None) -> None:
    """Deliver a logged event (LOG_ID) again, or every failed one."""
    if log_id:
        result = api.client.redeliver(webhook_id, log_id)
        message = f"Redelivery enqueued (log: {result['logId']})"
    else:
        result = api.client.redeliver_failed(webhook_id)
        count = result["count"]
        message = f"{count} failed deliver{'y' if count == 1 else 'ies'} enqueued again"
    if api.as_json:
        return output.emit_json(result)
    output.success(message)


_OVERLAP_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _overlap_seconds(text: str) -> int:
    """`--overlap` as seconds: a whole number with a unit (90s, 30m, 24h, 7d) or bare seconds."""
    value = text.strip().lower()
    unit = _OVERLAP_UNITS.get(value[-1:]) if value else None
    number = value[:-1] if unit is not None else value
    if not number.isdigit():
        output.fail(f"The overlap {text!r} is not a duration",
                    "Write a whole number with s, m, h or d, e.g. 24h or 30m (at most 7d).")
    return int(number) * (unit or 1)


@webhooks.command("rotate-secret")
@click.argument("webhook_id")
@click.option("--overlap", default="24h", show_default=True,
              help="How long the old secret keeps signing (e.g. 30m, 24h, 7d; 0 ends it now).")
@api_command()
def rotate_secret(api: Api, webhook_id: str, overlap: str) -> None:
    """Give a webhook a new signing secret; the old one stays valid for the overlap."""
    result = api.client.rotate_secret(webhook_id, overlap_seconds=_overlap_seconds(overlap))
    if api.as_json:
        return output.emit_json(result)
    output.success(f"Rotated the signing secret of webhook {webhook_id}")
    output.panel(
        "New signing secret",
        f"{result['signingSecret']}\n\nShown this once. The old secret keeps signing until"
        f" {result['previousSecretExpiresAt']}: verify with both meanwhile"
        " (wahooks.verify_signature takes a list). See docs/signatures.md.",
        style="yellow",
    )
