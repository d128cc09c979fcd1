"""Scale-out on PostgreSQL: several API and worker processes on one database, a worker killed,
another restarted, PostgreSQL itself restarted, and nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from support.receiver import Receiver
from support.server import ServerProcess, connected_connection, wait_until

WORKER_ENV = {
    "WAHOOKS_LEASE_SECONDS": "3",
    "WAHOOKS_REQUEST_TIMEOUT": "1.5",
    # Every log row is checked at the end: retention must not prune delivered ones meanwhile.
    "WAHOOKS_DELIVERED_KEPT": "1000000",
}


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for process in started:
        process.stop()


def _start(started: list[ServerProcess], url: str, role: str) -> ServerProcess:
    process = ServerProcess(url, role=role, env=WORKER_ENV)
    started.append(process)
    return process.start()


async def _push(targets: list[tuple[str, str]], connection_id: str, count: int) -> list[int]:
    """Send `count` inbound messages spread over the API processes; the numbers acknowledged."""
    acknowledged: list[int] = []
    numbers = iter(range(count))

    async def worker(session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        url = f"{base_url}/api/connections/{connection_id}/sandbox/inbound"
        for number in numbers:
            body = {"from": "14155550123@c.us", "body": f"scale-{number}"}
            async with session.post(
                url, json=body, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                if response.status == 201:
                    acknowledged.append(number)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(
            worker(session, base_url, token) for base_url, token in targets for _ in range(16)
        ))
    return acknowledged


def _numbers(receiver: Receiver) -> list[int]:
    return [
        int(orjson.loads(r.body)["payload"]["body"].removeprefix("scale-"))
        for r in list(receiver.requests)
    ]


def _all_logs(client: Any, webhook_id: str) -> list[dict[str, Any]]:
    logs: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = client.get(f"/webhooks/{webhook_id}/logs", params=params).json()
        logs += page
        if len(page) < 1000:
            return logs
        params["before"] = page[-1]["id"]


def test_two_apis_three_workers_one_killed_one_restarted(
    postgres_schema_url: Callable[[], str], processes: list[ServerProcess]
) -> None:
    url = postgres_schema_url()
    api1 = _start(processes, url, "api")
    api2 = _start(processes, url, "api")
    workers = [_start(processes, url, "worker") for _ in range(3)]
    token = api1.token
    assert token is not None and api2.token is None  # one owner, made by the first start
    events = 20_000

    with Receiver(delay=0.003) as receiver:
        with api1.client() as client:
            connection = connected_connection(client)
            webhook = client.post(
                f"/connections/{connection['id']}/webhooks",
                json={"url": receiver.url, "events": ["message"]},
            ).json()

        def chaos() -> None:
            wait_until(lambda: len(receiver.requests) > events * 0.2, timeout=120)
            workers[0].kill()
            wait_until(lambda: len(receiver.requests) > events * 0.5, timeout=120)
            workers[1].stop()
            workers[1].start()

        async def run() -> list[int]:
            pushing = asyncio.create_task(_push(
                [(api1.base_url, token), (api2.base_url, token)], connection["id"], events
            ))
            await asyncio.to_thread(chaos)
            return await pushing

        acknowledged = asyncio.run(run())
        assert len(acknowledged) == events
        wait_until(lambda: set(_numbers(receiver)) >= set(acknowledged), timeout=120)

        with api2.client(token) as client:
            wait_until(lambda: not client.get(
                f"/webhooks/{webhook['id']}/logs", params={"status": "pending"}).json(),
                timeout=30)
            logs = _all_logs(client, webhook["id"])

    assert sorted(set(_numbers(receiver))) == sorted(acknowledged)
    assert len(logs) == events and {log["status"] for log in logs} == {"delivered"}
    received: dict[str, int] = {}
    for request in receiver.requests:
        key = request.headers["X-WAHooks-Delivery"]
        received[key] = received.get(key, 0) + 1
    duplicated = {key for key, count in received.items() if count > 1}
    by_id = {log["id"]: log for log in logs}
    for key in duplicated:
        # Only deliveries the killed worker held arrive twice, and each shows its lost attempt.
        assert by_id[key]["attempts"] >= received[key]
        assert by_id[key]["attemptLog"][0]["error"].startswith("interrupted")
    for log in logs:
        assert received[log["id"]] <= log["attempts"]


def _restart_postgres() -> None:
    clusters = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True, check=True)
    version = clusters.stdout.split()[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True, capture_output=True,
    )


def test_postgres_restart_mid_run_loses_nothing_acknowledged(
    postgres_schema_url: Callable[[], str], processes: list[ServerProcess]
) -> None:
    url = postgres_schema_url()
    server = _start(processes, url, "all")
    with Receiver(delay=0.002) as receiver, server.client() as client:
        connection = connected_connection(client)
        webhook = client.post(
            f"/connections/{connection['id']}/webhooks",
            json={"url": receiver.url, "events": ["message"]},
        ).json()
        assert server.token is not None

        async def run() -> list[int]:
            pushing = asyncio.create_task(
                _push([(server.base_url, server.token or "")], connection["id"], 3000)
            )
            await asyncio.sleep(0.5)
            await asyncio.to_thread(_restart_postgres)
            return await pushing

        acknowledged = asyncio.run(run())
        # Some requests met the restart and were refused (503), never acknowledged; every
        # acknowledged one is delivered once the processes have reconnected by themselves.
        assert 0 < len(acknowledged) <= 3000
        wait_until(lambda: set(_numbers(receiver)) >= set(acknowledged), timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = client.get(f"/webhooks/{webhook['id']}/logs", params={"status": "pending"})
            if response.status_code == 200 and not response.json():
                break
            time.sleep(0.2)
        assert client.get("/health").json()["checks"]["database"]["status"] == "ok"


def test_an_api_process_reports_whether_any_worker_is_alive(
    postgres_schema_url: Callable[[], str], processes: list[ServerProcess]
) -> None:
    url = postgres_schema_url()
    api = _start(processes, url, "api")
    with api.client() as client:
        alone = client.get("/health").json()
        assert alone["status"] == "degraded"
        assert alone["checks"]["workers"]["error"] == "No active workers"
        _start(processes, url, "worker")
        with_worker = wait_until(
            lambda: (body := client.get("/health").json())["status"] == "ok" and body
        )
        assert with_worker["checks"]["workers"]["count"] == 1
