"""`wahooks webhooks health`, `webhooks enable` and the disabled reason in `webhooks list`, against a
real server and a receiver that answers 410 Gone until it is fixed."""

from __future__ import annotations

from cli.conftest import Wahooks, parsed
from support.receiver import Receiver
from support.server import wait_until


def test_a_gone_webhook_shows_its_health_holds_and_is_enabled_again(wahooks: Wahooks) -> None:
    connection_id = parsed(wahooks("connections", "create", "--json"))["id"]
    assert wahooks("sandbox", "scan", connection_id).exit_code == 0
    with Receiver(statuses=[410]) as receiver:
        webhook_id = parsed(wahooks(
            "webhooks", "create", connection_id, receiver.url, "message", "--json"
        ))["id"]
        assert wahooks("sandbox", "inbound", connection_id, "14155550123", "first").exit_code == 0
        wait_until(lambda: parsed(wahooks("webhooks", "health", webhook_id, "--json"))[
            "disabledReason"] == "gone")
        assert wahooks("sandbox", "inbound", connection_id, "14155550123", "later").exit_code == 0

        listed = wahooks("webhooks", "list", connection_id)
        shown = wahooks("webhooks", "health", webhook_id)
        held = parsed(wahooks("webhooks", "logs", webhook_id, "--status", "held", "--json"))
        receiver.statuses = [200]
        enabled = wahooks("webhooks", "enable", webhook_id)
        receiver.wait_for(3)
        after = wait_until(lambda: (
            found := parsed(wahooks("webhooks", "health", webhook_id, "--json"))
        )["held"] == 0 and found)

    assert "false (gone since" in " ".join(listed.stdout.split()), listed.stdout
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert "disabled by the server: gone since" in text, shown.stdout
    assert "held 2" in text and "consecutive dead letters 0" in text
    assert "wahooks webhooks enable " + webhook_id in " ".join(shown.stdout.split())
    assert len(held) == 2 and {entry["status"] for entry in held} == {"held"}
    assert enabled.exit_code == 0, enabled.output
    assert f"Enabled webhook {webhook_id}; 2 held deliveries replayed" in enabled.stdout
    assert after["active"] is True and after["disabledReason"] is None
