"""The system page in Chromium: the queue's own figures (what /metrics reads), the whole queue for
the owner and only its own deliveries for another account; on PostgreSQL with separate worker
processes, each worker's heartbeat for the owner and only their number for anyone else."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import asyncpg
import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from browser.conftest import create_account
from browser.test_dashboard import CONTACT, sign_in
from conftest import POSTGRES_URL
from support.receiver import Receiver
from support.server import ServerProcess, wait_until

Shoot = Callable[[Page, str], None]
# A worker id as the dispatcher makes it (host:pid:start): only the owner may see one.
WORKER_ID = re.compile(rf"{re.escape(socket.gethostname())}:\d+:\d+")


def _webhook_with_deliveries(
    api: httpx.Client, url: str, messages: int, status: str
) -> str:
    """A linked sandbox connection whose webhook ends `messages` deliveries with `status`."""
    connection = api.post("/connections").json()
    assert api.post(f"/connections/{connection['id']}/sandbox/scan").status_code < 300
    made = api.post(f"/connections/{connection['id']}/webhooks",
                    json={"url": url, "events": ["message"]})
    assert made.status_code == 201, made.text
    webhook_id = str(made.json()["id"])
    for number in range(messages):
        sent = api.post(f"/connections/{connection['id']}/sandbox/inbound",
                        json={"from": CONTACT, "body": f"message {number}"})
        assert sent.status_code == 201, sent.text
    wait_until(lambda: [log["status"] for log in api.get(f"/webhooks/{webhook_id}/logs").json()]
               == [status] * messages, timeout=15)
    return webhook_id


def _metrics(api: httpx.Client, server: ServerProcess) -> dict[str, float]:
    """/metrics's queue gauges, parsed as Prometheus parses them."""
    answer = api.get(server.base_url + "/metrics")
    assert answer.status_code == 200, answer.text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == "wahooks_deliveries":
                found[sample.labels["status"]] = sample.value
            elif sample.name == "wahooks_deliveries_leased":
                found["leased"] = sample.value
    return found


def _depth(page: Page) -> dict[str, float]:
    return {status: float(page.locator(f"#depth-{status} td").text_content() or "")
            for status in ("pending", "delivered", "failed", "held", "leased")}


def test_the_owner_sees_the_whole_queue_and_another_account_only_its_own(
    server: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    assert server.token is not None
    bob_token = create_account(server, "bob-system")
    with (server.client() as owner_api, server.client(bob_token) as bob_api,
          Receiver() as working, Receiver(statuses=[500]) as failing):
        _webhook_with_deliveries(owner_api, working.url, 2, "delivered")
        _webhook_with_deliveries(bob_api, failing.url, 1, "failed")
        figures = _metrics(owner_api, server)

        owner = open_browser().new_page()
        sign_in(owner, server, server.token)
        owner.goto(server.base_url + "/system")
        expect(owner.locator("#depth-title")).to_have_text("The delivery queue (all accounts)")
        # The page's figures are /metrics's: the whole queue, bob's dead letter included.
        assert _depth(owner) == figures
        assert figures["delivered"] >= 2 and figures["failed"] >= 1
        expect(owner.locator("#depth-oldest-due td")).to_have_text("none waiting")
        expect(owner.locator("#worker-worker-id")).to_have_text(WORKER_ID)
        expect(owner.locator("#worker-in-flight")).to_have_text("0")
        expect(owner.locator("#engine")).to_contain_text("connected")
        shoot(owner, "system-owner")

        bob = open_browser().new_page()
        sign_in(bob, server, bob_token)
        bob.goto(server.base_url + "/system")
        expect(bob.locator("#depth-title")).to_have_text("Your deliveries by state")
        # Only bob's: one dead letter, nothing of the owner's deliveries, no worker id.
        assert _depth(bob) == {"pending": 0, "delivered": 0, "failed": 1, "held": 0, "leased": 0}
        expect(bob.locator("#worker-worker-id")).to_have_count(0)
        expect(bob.locator("#worker-in-flight")).to_have_count(0)  # every account's load
        expect(bob.locator("#worker-active")).to_have_text("True")
        expect(bob.locator("main")).not_to_contain_text(WORKER_ID)
        expect(bob.locator("#engine")).to_contain_text("1 connected")
        shoot(bob, "system-another-account")


@pytest.fixture
def scaled_out() -> Iterator[ServerProcess]:
    """An API process and two delivery workers on a fresh PostgreSQL schema (dropped after, from a
    thread of its own: Playwright's sync API keeps an event loop running in this one, so the
    shared `postgres_schema_url` fixture's asyncio.run cannot)."""
    schema = f"wahooks_test_{uuid.uuid4().hex[:12]}"
    url = f"{POSTGRES_URL}?schema={schema}"
    api = ServerProcess(url, role="api").start()
    workers = [ServerProcess(url, role="worker").start() for _ in range(2)]
    yield api
    for process in (*workers, api):
        process.stop()
    dropping = threading.Thread(target=asyncio.run, args=(_drop_schema(schema),))
    dropping.start()
    dropping.join(30)


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def test_on_postgres_the_owner_sees_each_workers_heartbeat(
    scaled_out: ServerProcess, open_browser: Callable[..., BrowserContext], shoot: Shoot
) -> None:
    server = scaled_out
    assert server.token is not None
    bob_token = create_account(server, "bob-heartbeats")
    owner = open_browser().new_page()
    sign_in(owner, server, server.token)

    def both_workers_shown() -> bool:
        owner.goto(server.base_url + "/system")
        return owner.locator("#heartbeats tr.heartbeat").count() == 2

    wait_until(both_workers_shown, timeout=30)
    expect(owner.locator("#worker-live-workers")).to_have_text("2")
    rows = owner.locator("#heartbeats tr.heartbeat")
    for index in range(2):
        expect(rows.nth(index)).to_contain_text(WORKER_ID)
        expect(rows.nth(index)).to_contain_text(re.compile(r"\(\d+ s ago\)"))
    shoot(owner, "system-heartbeats")

    bob = open_browser().new_page()
    sign_in(bob, server, bob_token)
    bob.goto(server.base_url + "/system")
    expect(bob.locator("#worker-live-workers")).to_have_text("2")
    expect(bob.locator("#heartbeats")).to_have_count(0)
    expect(bob.locator("main")).not_to_contain_text(WORKER_ID)
