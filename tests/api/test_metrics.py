"""GET /metrics against real servers: who may read it, and that its numbers are the API's numbers
after a known load (sandbox events to real receivers, one of which always fails)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from support.receiver import Receiver
from support.server import ServerProcess, connected_connection, wait_until
from wahooks.version import __version__

PHONE = "14155550123"


def scrape(server: ServerProcess, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{server.base_url}/metrics", headers=headers, timeout=30)


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float:
    """The one sample of that name whose labels include `labels` (0 when there is none)."""
    matching = [s for s in found if s.name == name and labels.items() <= s.labels.items()]
    assert len(matching) <= 1, matching
    return matching[0].value if matching else 0.0


def test_metrics_need_an_owner_token(server: ServerProcess, bob_token: str) -> None:
    anonymous = scrape(server, None)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Missing or invalid Authorization header"
    assert scrape(server, "wh_" + "0" * 48).status_code == 401
    not_owner = scrape(server, bob_token)
    assert not_owner.status_code == 403
    assert not_owner.json()["message"] == "Metrics are only for the owner account's tokens"

    assert server.token is not None
    owner = scrape(server, server.token)
    assert owner.status_code == 200
    assert owner.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(owner.text)
    info = [s for s in found if s.name == "wahooks_info"]
    assert [s.labels for s in info] == [
        {"version": __version__, "role": "all", "engine": "sandbox", "storage": "sqlite"}
    ]


def test_the_public_setting_opens_metrics_without_a_token(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(metrics_public="true")
    opened = scrape(server, None)
    assert opened.status_code == 200
    assert value(samples(opened.text), "wahooks_deliveries", status="pending") == 0


def _webhook(client: httpx.Client, connection_id: str, url: str, events: list[str]) -> str:
    created = client.post(
        f"/connections/{connection_id}/webhooks", json={"url": url, "events": events}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _settled_logs(client: httpx.Client, webhook_id: str, count: int) -> list[dict[str, Any]]:
    def settled() -> list[dict[str, Any]] | None:
        logs: list[dict[str, Any]] = client.get(f"/webhooks/{webhook_id}/logs").json()
        done = len(logs) >= count and all(log["status"] != "pending" for log in logs)
        return logs if done else None

    found: list[dict[str, Any]] = wait_until(settled, timeout=20)
    return found


def test_metrics_match_what_the_api_reports_after_a_known_load(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(retry_schedule="0.05")  # one retry, then the dead letter
    with (
        Receiver(statuses=[200]) as good,
        Receiver(statuses=[500]) as bad,
        server.client() as client,
    ):
        connection = connected_connection(client)
        everything = _webhook(client, connection["id"], good.url, ["*"])
        messages = _webhook(client, connection["id"], good.url, ["message"])
        failing = _webhook(client, connection["id"], bad.url, ["message"])
        for n in range(3):
            sent = client.post(
                f"/connections/{connection['id']}/sandbox/inbound",
                json={"from": f"{PHONE}@c.us", "body": f"hello {n}"},
            )
            assert sent.status_code == 201, sent.text

        failed = _settled_logs(client, failing, 3)
        delivered = _settled_logs(client, messages, 3)
        # Every event the engine emitted reached the "*" webhook once, so its log is the
        # catalogue of what ingest accepted.
        all_events = _settled_logs(client, everything, len(delivered))
        me = client.get("/me").json()
        assert server.token is not None
        scraped = scrape(server, server.token)
    assert scraped.status_code == 200
    found = samples(scraped.text)

    logs = failed + delivered + all_events
    by_status = Counter(log["status"] for log in logs)
    for status in ("pending", "delivered", "failed"):
        assert value(found, "wahooks_deliveries", status=status) == by_status[status]
    assert by_status["failed"] == 3 and by_status["pending"] == 0
    assert value(found, "wahooks_deliveries_leased") == 0
    assert value(found, "wahooks_oldest_due_delivery_age_seconds") == 0

    by_type = Counter(log["eventType"] for log in all_events)
    assert by_type["message"] == 3
    for event_type, count in by_type.items():
        assert value(found, "wahooks_events_accepted_total", type=event_type) == count

    attempts = [a for log in logs for a in log["attemptLog"]]
    ok = sum(1 for a in attempts if a["statusCode"] == 200)
    assert value(found, "wahooks_delivery_attempts_total", result="delivered",
                 status_class="2xx", error_class="none") == ok
    for result in ("retry", "dead_letter"):
        assert value(found, "wahooks_delivery_attempts_total", result=result,
                     status_class="5xx", error_class="http_status") == 3
    assert sum(s.value for s in found if s.name == "wahooks_delivery_attempts_total") == len(
        attempts
    )
    delivered_count = by_status["delivered"]
    assert value(found, "wahooks_delivery_latency_seconds_count") == delivered_count
    assert value(found, "wahooks_delivery_latency_seconds_bucket", le="+Inf") == delivered_count
    assert value(found, "wahooks_delivery_latency_seconds_sum") > 0
    assert value(found, "wahooks_dispatcher_in_flight") >= 0
    assert value(found, "process_resident_memory_bytes") > 0

    tenant_data = {
        connection["id"], connection["name"], everything, messages, failing, good.url, bad.url,
        str(good.port), str(bad.port), PHONE, me["id"], me["name"], server.token,
    }
    labels = {(k, v) for s in found for k, v in s.labels.items()}
    assert not {
        (k, v) for k, v in labels if any(t and str(t) in v for t in tenant_data)
    }, "a label carries tenant data"
    assert {k for k, _ in labels} <= {
        "status", "type", "result", "status_class", "error_class", "le",
        "version", "role", "engine", "storage",
        "implementation", "major", "minor", "patchlevel",  # python_info
    }


def test_on_postgresql_each_process_counts_its_own_work_and_all_read_one_queue(
    postgres_schema_url: Callable[[], str],
) -> None:
    """An API process ingests (no dispatcher), a `--role worker` process delivers and serves
    /metrics on its own port: the events are counted where they were accepted, the attempts where
    they were made, the queue alike by both."""
    url = postgres_schema_url()
    env = {"WAHOOKS_RETRY_SCHEDULE": "0.05"}
    api = ServerProcess(url, role="api", env=env).start()
    # Port 0: the worker binds a free port and announces it (no race for a port chosen here).
    worker = ServerProcess(url, role="worker", env={**env, "WAHOOKS_METRICS_PORT": "0"}).start()
    try:
        worker_metrics = f"http://127.0.0.1:{_announced_metrics_port(worker)}/metrics"
        with Receiver(statuses=[200]) as good, Receiver(statuses=[500]) as bad, \
                api.client() as client:
            connection = connected_connection(client)
            ok = _webhook(client, connection["id"], good.url, ["message"])
            failing = _webhook(client, connection["id"], bad.url, ["message"])
            for n in range(2):
                sent = client.post(
                    f"/connections/{connection['id']}/sandbox/inbound",
                    json={"from": f"{PHONE}@c.us", "body": f"hello {n}"},
                )
                assert sent.status_code == 201, sent.text
            logs = _settled_logs(client, ok, 2) + _settled_logs(client, failing, 2)
        assert api.token is not None
        at_api = samples(scrape(api, api.token).text)
        anonymous = httpx.get(worker_metrics, timeout=30)
        scraped = httpx.get(worker_metrics, headers={"Authorization": f"Bearer {api.token}"},
                            timeout=30)
        assert scraped.status_code == 200, scraped.text
        at_worker = samples(scraped.text)
    finally:
        api.stop()
        worker.stop()

    # The worker's /metrics keeps the API's access rule: no token, no metrics.
    assert anonymous.status_code == 401, anonymous.text
    assert value(at_api, "wahooks_events_accepted_total", type="message") == 2
    assert value(at_worker, "wahooks_events_accepted_total", type="message") == 0
    attempts = sum(len(log["attemptLog"]) for log in logs)
    assert attempts == 2 + 2 * 2
    for found, made in ((at_api, 0), (at_worker, attempts)):
        assert sum(s.value for s in found if s.name == "wahooks_delivery_attempts_total") == made
    assert value(at_worker, "wahooks_delivery_latency_seconds_count") == 2
    for found in (at_api, at_worker):
        assert value(found, "wahooks_deliveries", status="delivered") == 2
        assert value(found, "wahooks_deliveries", status="failed") == 2
        assert value(found, "wahooks_deliveries", status="pending") == 0
    assert [s.labels["role"] for s in at_api + at_worker if s.name == "wahooks_info"] == [
        "api", "worker",
    ]
    assert not [s for s in at_api if s.name.startswith("wahooks_dispatcher_")]


def _announced_metrics_port(worker: ServerProcess) -> int:
    """The port a worker started with WAHOOKS_METRICS_PORT=0 bound, from its start-up output
    (printed before it says it is running, so it is there once the worker has started)."""
    found = [re.search(r"worker metrics on port (\d+)", line) for line in worker.output]
    ports = [int(match.group(1)) for match in found if match]
    assert len(ports) == 1, "".join(worker.output)
    return ports[0]
