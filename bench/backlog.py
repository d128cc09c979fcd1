"""Backlog benchmark: what a large backlog costs. N deliveries pile up across W webhooks while their
receiver is down, then it comes back and the backlog drains.

    .venv/bin/python bench/backlog.py [--backends sqlite,postgres] [--pending N] [--webhooks W]
                                      [--per-connection K] [--kept K] [--keep]

Per backend, a fresh `wahooks serve` (role all) on a fresh SQLite file or PostgreSQL schema:

  set-up      W/K sandbox connections with K webhooks each (`message`), all on one receiver that
              is down: it accepts connections and reads requests but answers none (so wahooks holds
              what its caps allow on the wire, and the rest waits in the database). Beside them, a
              healthy connection whose one webhook is on a second receiver, which answers.
  accumulate  N/K events through the real API (the sandbox's inbound route, closed loop, 64
              connections), round robin over the connections: each becomes K deliveries. Nothing
              is pre-filled: the rate printed is the API's while the backlog grows. Meanwhile
              wahooks' RSS is sampled every second; then the database's size and the pending
              count (/metrics) are read.
  drain       the receiver comes back (it answers the requests it held, then every one). Until it
              has every delivery: deliveries/s at the receiver; meanwhile one GET
              /api/webhooks/:id/logs on a backlog webhook and one new event to the healthy webhook
              every 0.1 s: the logs' response time and the new events' delivery latency (event
              created -> received), p50/p99/max.
  trim        the server restarts with WAHOOKS_DELIVERED_KEPT=K (100, at most a tenth of what each
              webhook has, so the sweep has work) and a 1 s retention interval:
              the time from its start to its first sweep's log line, less the interval, is the
              time retention takes to trim the drained backlog.

WAHOOKS_REQUEST_TIMEOUT is 3600 s here, so the requests the down receiver holds never time out and
retry: "pending" stays pending, and nothing is dead-lettered. Retention sweeps are pushed out of
the way (interval one day) until the trim step. It prints figures and never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from checkout import THIS, Checkout
from delivery import CONCURRENCY, ms
from harness import ReceiverProcess, fresh_file, run_loadgen, versions_line

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.server import ServerProcess, connected_connection  # noqa: E402

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PENDING_METRIC = re.compile(r'^wahooks_deliveries\{status="pending"\} (\S+)$', re.MULTILINE)
TICK = 0.1  # seconds between the drain's probes (a logs read, a new healthy event)
PROGRESS_EVERY = 10.0  # seconds between the drain's progress lines


@dataclass
class BacklogResult:
    backend: str
    checkout: str
    webhooks: int
    per_event: int  # webhooks per connection: deliveries per event
    events: int = 0
    accepted: int = 0
    ingest_s: float = 0.0
    peak_rss_mib: float = 0.0
    rss_after_mib: float = 0.0
    database_mib: float = 0.0
    pending_reported: float | None = None
    drain_s: float = 0.0
    drained: int = 0
    drain_rss_mib: float = 0.0
    logs_ms: dict[str, float | None] = field(default_factory=dict)
    healthy_ms: dict[str, float | None] = field(default_factory=dict)
    healthy_sent: int = 0
    healthy_lost: int = 0
    trim_s: float | None = None
    kept: int = 0  # WAHOOKS_DELIVERED_KEPT of the trim step
    trim_line: str = ""
    database_after_trim_mib: float = 0.0
    failure: str = ""

    @property
    def deliveries(self) -> int:
        return self.accepted * self.per_event

    @property
    def ingest_rate(self) -> float:
        return self.accepted / max(self.ingest_s, 1e-9)

    @property
    def drain_rate(self) -> float:
        return self.drained / max(self.drain_s, 1e-9)


# what the processes and the database say -----------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler:
    """The peak of a process's resident memory, sampled every second on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except (FileNotFoundError, ProcessLookupError):
                return
            self._stop.wait(1.0)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return self.peak


def database_mib(backend: str, database: str) -> float:
    if backend == "sqlite":
        files = [Path(database + suffix) for suffix in ("", "-wal", "-shm")]
        return sum(f.stat().st_size for f in files if f.exists()) / 2**20
    schema = database.split("schema=", 1)[1].split("&", 1)[0]
    rows = asyncio.run(_query(
        "SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0)"
        " AS size FROM pg_tables WHERE schemaname = $1", schema))
    return float(rows[0]["size"]) / 2**20


async def _query(sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def pending_reported(server: ServerProcess) -> float | None:
    """Pending deliveries as /metrics reports them (read from the database at scrape time)."""
    answer = httpx.get(server.base_url + "/metrics", timeout=120,
                       headers={"Authorization": f"Bearer {server.token}"})
    found = PENDING_METRIC.search(answer.text) if answer.status_code == 200 else None
    return float(found.group(1)) if found else None


def percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p99": None, "max": None}
    return {q: ordered[max(0, math.ceil(f * len(ordered)) - 1)]
            for q, f in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}


# the steps ------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """What the set-up made: the backlog's connections and webhooks, the healthy one."""

    connection_ids: list[str]
    backlog_webhook: str
    healthy_connection: str
    healthy_prefix: str


def add_webhook(client: httpx.Client, connection_id: str, receiver: ReceiverProcess,
                path: str) -> str:
    created = client.post(f"/connections/{connection_id}/webhooks",
                          json={"url": receiver.url(path), "events": ["message"]})
    if created.status_code != 201:
        raise RuntimeError(f"webhook not created: {created.status_code} {created.text}")
    receiver.track(path, created.json()["signingSecret"])
    webhook_id: str = created.json()["id"]
    return webhook_id


def set_up(server: ServerProcess, args: argparse.Namespace, tag: str,
           backlog: ReceiverProcess, healthy: ReceiverProcess) -> Layout:
    connections = max(args.webhooks // args.per_connection, 1)
    ids, first_webhook = [], ""
    with server.client() as client:
        for c in range(connections):
            ids.append(connected_connection(client)["id"])
            for k in range(args.per_connection):
                made = add_webhook(client, ids[-1], backlog, f"/b/{tag}/{c}/{k}")
                first_webhook = first_webhook or made
        healthy_connection = connected_connection(client)["id"]
        add_webhook(client, healthy_connection, healthy, f"/ok/{tag}/0")
    return Layout(ids, first_webhook, healthy_connection, f"/ok/{tag}/")


def accumulate(server: ServerProcess, layout: Layout, args: argparse.Namespace, tag: str,
               result: BacklogResult) -> None:
    assert server.process is not None
    sampler = RssSampler(server.process.pid)
    load = run_loadgen(
        {"mode": "ingest", "base_url": server.base_url, "token": server.token,
         "connection_ids": layout.connection_ids, "case": f"backlog{tag}",
         "count": result.events, "concurrency": args.concurrency, "rate": None},
        timeout=result.events / 100 + 300,
    )
    result.accepted = load["statuses"].get("201", 0)
    result.ingest_s = load["elapsed_s"]
    result.peak_rss_mib = sampler.stop()
    result.rss_after_mib = rss_mib(server.process.pid)
    refused = {k: v for k, v in load["statuses"].items() if k != "201"}
    if refused:
        result.failure = f"ingest refused {refused}"


def drain(server: ServerProcess, layout: Layout, args: argparse.Namespace,
          backlog: ReceiverProcess, healthy: ReceiverProcess, tag: str,
          result: BacklogResult) -> None:
    """Bring the receiver back and probe the API until every delivery has arrived."""
    assert server.process is not None
    sampler = RssSampler(server.process.pid)
    expected = result.deliveries
    logs_ms: list[float] = []
    sent = 0
    started = time.monotonic()
    backlog.set_down(False)
    deadline = started + args.drain_timeout
    with server.client() as client:
        next_count, next_progress = started, started + PROGRESS_EVERY
        while time.monotonic() < deadline:
            tick = time.monotonic()
            posted = client.post(f"/connections/{layout.healthy_connection}/sandbox/inbound",
                                 json={"from": "14155550123@c.us", "body": f"bench-ok{tag}-{sent}"})
            sent += posted.status_code == 201
            before = time.perf_counter()
            client.get(f"/webhooks/{layout.backlog_webhook}/logs")
            logs_ms.append((time.perf_counter() - before) * 1000)
            if tick >= next_count:
                result.drained = backlog.count(f"/b/{tag}/")["unique"]
                if result.drained >= expected:
                    break
                next_count = tick + 1.0
                if tick >= next_progress:
                    print(f"    draining: {result.drained} of {expected} delivered after"
                          f" {tick - started:.0f} s", flush=True)
                    next_progress = tick + PROGRESS_EVERY
            time.sleep(max(0.0, TICK - (time.monotonic() - tick)))
    result.drain_s = time.monotonic() - started
    result.drain_rss_mib = sampler.stop()
    _wait_for(lambda: healthy.count(layout.healthy_prefix)["unique"] >= sent, 30)
    stats = healthy.stats(layout.healthy_prefix)
    result.healthy_sent, result.healthy_lost = sent, sent - int(stats["unique"])
    result.healthy_ms = stats["latency_ms"]
    result.logs_ms = percentiles(logs_ms)
    if result.drained < expected:
        result.failure = f"drain timed out: {result.drained} of {expected} delivered"


def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)


def trim(database: str, env: dict[str, str], args: argparse.Namespace, checkout: Checkout,
         result: BacklogResult) -> None:
    """Restart with retention on: time to the first sweep's log line, less the interval. (A sweep
    that deletes nothing logs nothing: fewer are kept than each webhook has, whatever --kept.)"""
    per_webhook = result.deliveries // max(result.webhooks, 1)
    result.kept = min(args.kept, max(per_webhook // 10, 1))
    env = {**env, "WAHOOKS_RETENTION_INTERVAL": "1", "WAHOOKS_DELIVERED_KEPT": str(result.kept)}
    server = checkout.server(database, env=env)
    server.start(timeout=120)
    started = time.monotonic()
    try:
        deadline = started + args.trim_timeout
        while time.monotonic() < deadline:
            line = next((line for line in server.output if "retention sweep" in line), None)
            if line is not None:
                result.trim_s = max(time.monotonic() - started - 1.0, 0.0)
                result.trim_line = line.strip()
                break
            time.sleep(0.05)
    finally:
        server.stop()


def run_backend(backend: str, args: argparse.Namespace, workdir: Path, checkout: Checkout,
                backlog: ReceiverProcess, healthy: ReceiverProcess) -> BacklogResult:
    tag = f"{checkout.label}-{backend}"
    result = BacklogResult(backend, checkout.label, args.webhooks, args.per_connection)
    result.events = max(args.pending // args.per_connection, 1)
    schema = f"wahooks_bench_backlog_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        database = str(fresh_file(workdir, f"backlog-{tag}", ".db"))
    else:
        database = f"{POSTGRES_URL}?schema={schema}"
    env = {"WAHOOKS_REQUEST_TIMEOUT": "3600", "WAHOOKS_RETENTION_INTERVAL": "86400",
           "WAHOOKS_LOG_LEVEL": "info"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("WAHOOKS_")})
    server = checkout.server(database, env=env)
    try:
        server.start(timeout=60)
        backlog.set_down(True)
        layout = set_up(server, args, tag, backlog, healthy)
        print(f"  set up {len(layout.connection_ids)} connections x {args.per_connection} webhooks"
              f" on the down receiver, 1 healthy webhook; sending {result.events} events", flush=True)
        accumulate(server, layout, args, tag, result)
        result.database_mib = database_mib(backend, database)
        result.pending_reported = pending_reported(server)
        print(f"  accumulated: {result.accepted} events = {result.deliveries} deliveries in"
              f" {result.ingest_s:.1f} s; /metrics pending {result.pending_reported}", flush=True)
        drain(server, layout, args, backlog, healthy, tag, result)
        server.stop()
        trim(database, env, args, checkout, result)
        result.database_after_trim_mib = database_mib(backend, database)
    except (RuntimeError, OSError, httpx.HTTPError, asyncpg.PostgresError) as exc:
        result.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        backlog.set_down(False)
        server.stop()
        (workdir / f"backlog-{tag}-{uuid.uuid4().hex[:6]}.server.log").write_text(
            "".join(server.output))
        if backend == "postgres":
            asyncio.run(_query(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    return result


# printing -------------------------------------------------------------------------------------------


def print_result(r: BacklogResult) -> None:
    print(f"\n== backlog, {r.backend} ({r.checkout}): {r.deliveries} deliveries over {r.webhooks}"
          f" webhooks ({r.per_event} per event)")
    print(f"  ingest      {r.accepted}/{r.events} events in {r.ingest_s:.1f} s ="
          f" {r.ingest_rate:.0f} events/s = {r.ingest_rate * r.per_event:.0f} deliveries/s"
          f" created while the backlog grows")
    print(f"  memory      wahooks RSS peak {r.peak_rss_mib:.0f} MiB while accumulating,"
          f" {r.rss_after_mib:.0f} MiB with the backlog pending, peak {r.drain_rss_mib:.0f} MiB"
          " while draining")
    print(f"  database    {r.database_mib:.0f} MiB with the backlog pending ({r.pending_reported}"
          f" pending says /metrics), {r.database_after_trim_mib:.0f} MiB after the trim")
    print(f"  drain       {r.drained} delivered in {r.drain_s:.1f} s = {r.drain_rate:.0f}"
          " deliveries/s")
    print(f"  logs API    GET /api/webhooks/:id/logs while draining: p50 {ms(r.logs_ms.get('p50'))}"
          f" p99 {ms(r.logs_ms.get('p99'))} max {ms(r.logs_ms.get('max'))} ms")
    print(f"  healthy     {r.healthy_sent} new events to a healthy webhook while draining, lost"
          f" {r.healthy_lost}: created -> received p50 {ms(r.healthy_ms.get('p50'))}"
          f" p99 {ms(r.healthy_ms.get('p99'))} max {ms(r.healthy_ms.get('max'))} ms")
    trimmed = "n/a (no sweep logged)" if r.trim_s is None else f"{r.trim_s:.1f} s"
    print(f"  retention   first sweep, {r.webhooks} webhooks keeping {r.kept} delivered each:"
          f" {trimmed}")
    if r.trim_line:
        print(f"    | {r.trim_line[:200]}")
    if r.failure:
        print(f"  FAILED: {r.failure}")


# main -----------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pending", type=int, default=1_000_000,
                        help="deliveries to accumulate (events x webhooks per connection)")
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--per-connection", type=int, default=10,
                        help="webhooks per connection: each event becomes this many deliveries")
    parser.add_argument("--kept", type=int, default=100,
                        help="WAHOOKS_DELIVERED_KEPT for the trim step (at most a tenth of what"
                             " each webhook has)")
    parser.add_argument("--drain-timeout", type=float, default=3600.0)
    parser.add_argument("--trim-timeout", type=float, default=1800.0,
                        help="seconds to wait for the first retention sweep after the restart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    add_arguments(parser)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wahooks-backlog-"))
    print(f"wahooks backlog benchmark: {os.cpu_count()} cores, workdir {workdir}")
    print(versions_line())
    backlog, healthy = ReceiverProcess().start(), ReceiverProcess().start()
    try:
        for backend in args.backends.split(","):
            print_result(run_backend(backend.strip(), args, workdir, THIS, backlog, healthy))
    finally:
        backlog.stop()
        healthy.stop()
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
