"""`wahooks webhooks logs -v` with attempt detail and filters, `webhooks attempts` and
`webhooks recover`, against a real server that dead-letters at the first failure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli.conftest import Wahooks, parsed
from support.receiver import Receiver
from support.server import ServerProcess, wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("attempts") / "wahooks.db", env={"WAHOOKS_RETRY_SCHEDULE": ""}
    ).start()
    yield process
    process.stop()


def _error(result: Any, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert fragment in " ".join(result.stderr.replace("│", " ").split()), result.stderr


def test_attempts_show_their_detail_and_recover_queues_dead_letters(wahooks: Wahooks) -> None:
    connection_id = parsed(wahooks("connections", "create", "--json"))["id"]
    with Receiver(statuses=[500, 200], answer_headers={"X-Request-Id": "req-7"}) as receiver:
        webhook_id = parsed(wahooks("webhooks", "create", connection_id, receiver.url, "--json"))[
            "id"
        ]
        log_id = parsed(wahooks("webhooks", "test", webhook_id, "--json"))["logId"]
        wait_until(lambda: parsed(wahooks("webhooks", "attempts", webhook_id, log_id, "--json"))[
            "status"] == "failed")

        shown = wahooks("webhooks", "attempts", webhook_id, log_id)
        assert shown.exit_code == 0, shown.output
        assert f"{log_id}  test  failed  (1 attempts)" in shown.stdout
        assert "attempt 1 (test)" in shown.stdout and "500 [http_status]" in shown.stdout
        assert "x-request-id: req-7" in shown.stdout and "body: nope" in shown.stdout
        assert "request headers" not in shown.stdout  # only with -v
        detailed = wahooks("webhooks", "attempts", webhook_id, log_id, "-v")
        assert detailed.exit_code == 0, detailed.output
        (received,) = receiver.wait_for(1)
        assert "request headers:" in detailed.stdout
        for name in ("X-WAHooks-Signature", "webhook-signature", "User-Agent"):
            assert f"{name}: {received.headers[name]}" in detailed.stdout
        verbose = wahooks("webhooks", "logs", webhook_id, "-v")
        assert "attempt 1 (test)" in verbose.stdout and "x-request-id: req-7" in verbose.stdout
        failed = parsed(wahooks("webhooks", "logs", webhook_id, "--status-class", "5xx", "--json"))
        assert [entry["id"] for entry in failed] == [log_id]

        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        _error(wahooks("webhooks", "recover", webhook_id, "--since", since, "--until", since),
               "since must be earlier than until")
        recovered = wahooks("webhooks", "recover", webhook_id, "--since", since)
        assert "✓ 1 dead-lettered delivery queued again" in recovered.stdout, recovered.output
        receiver.wait_for(2)
        wait_until(lambda: parsed(wahooks("webhooks", "attempts", webhook_id, log_id, "--json"))[
            "status"] == "delivered")
        assert "attempt 2 (recover)" in wahooks("webhooks", "attempts", webhook_id, log_id).stdout
        assert parsed(wahooks("webhooks", "logs", webhook_id, "--status-class", "2xx",
                              "--event", "test", "--since", since, "--json"))[0]["id"] == log_id
        assert parsed(wahooks("webhooks", "recover", webhook_id, "--since", since, "--json")) == {
            "success": True, "count": 0
        }
    _error(wahooks("webhooks", "attempts", webhook_id, "00000000-0000-7000-8000-000000000000"),
           "Webhook log not found")
