"""Per-chat ordering's cost: deliveries per second to a webhook with `ordering: "chat"` beside the
same load to an unordered one, events spread over many chats, printed side by side in one run.

    .venv/bin/python bench/ordering.py [--events N] [--chats C] [--concurrency K]
                                       [--postgres URL]

Each run gets a fresh `wahooks serve` (a fresh SQLite file; with --postgres, a fresh schema of
that database too) and the same load: N events (default 10,000) from C chats in turn (default
100) sent by bench/loadgen.py as fast as the server accepts them, to one webhook on
bench/receiver.py (every signature verified). A rate is deliveries received per second from the
first delivery to the last, in two cases:

  live     deliveries while the events arrive (bounded by how fast the server ingests);
  backlog  the same number of events first dead-lettered at a refused port (no retries), then
           all redelivered at once to the receiver: how fast a deep backlog drains (ordered: C
           lines of N/C deliveries each, one on the wire per chat at a time).

With ordering, a chat has one delivery on the wire at a time, so its rate is bounded by
chats / (round trip + outcome write + claim). Target (issue 13): ordered at least half the
unordered rate. It prints figures and never asserts: timings on a shared 2-core machine are
noisy, compare runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ReceiverProcess, cpu_seconds, run_loadgen, versions_line

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.server import ServerProcess, connected_connection, free_port  # noqa: E402

TARGET_RATIO = 0.5


@dataclass(frozen=True)
class Figures:
    accepted: int
    received: int
    unique: int
    rate: float  # deliveries per second, first to last delivery


@dataclass(frozen=True)
class Run:
    backend: str
    ordering: str
    live: Figures
    backlog: Figures
    ingest_rate: float
    server_cpu_s: float


def _database(backend: str, workdir: Path, postgres: str | None, name: str) -> str:
    if backend == "sqlite":
        return str(workdir / f"{name}.db")
    assert postgres is not None
    return f"{postgres}?schema=bench_ordering_{uuid.uuid4().hex[:10]}"


def _webhook(client: Any, connection_id: str, url: str, ordering: str) -> dict[str, Any]:
    created = client.post(f"/connections/{connection_id}/webhooks",
                          json={"url": url, "events": ["message"], "ordering": ordering})
    if created.status_code != 201:
        raise RuntimeError(f"webhook not created: {created.status_code} {created.text}")
    made: dict[str, Any] = created.json()
    return made


def _load(server: ServerProcess, connection_id: str, case: str,
          args: argparse.Namespace) -> dict[str, Any]:
    return run_loadgen(
        {"mode": "ingest", "base_url": server.base_url, "token": server.token,
         "connection_id": connection_id, "case": case, "count": args.events,
         "concurrency": args.concurrency, "chats": args.chats},
        timeout=args.events / 100 + 120,
    )


def _drained(receiver: ReceiverProcess, path: str, accepted: int, timeout: float) -> Figures:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and receiver.count(path)["unique"] < accepted:
        time.sleep(0.05)
    stats: dict[str, Any] = receiver.stats(path)
    span = ((stats["last_ms"] or 0) - (stats["first_ms"] or 0)) / 1000
    return Figures(accepted, stats["received"], stats["unique"],
                   stats["unique"] / span if span > 0 else 0.0)


def _wait_settled(client: Any, webhook_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = client.get(f"/webhooks/{webhook_id}/logs", params={"status": "pending", "limit": 1})
        if page.status_code == 200 and page.json() == []:
            return
        time.sleep(0.2)
    raise RuntimeError("deliveries still pending")


async def _drop_schema(url: str) -> None:
    import asyncpg

    dsn, schema = url.split("?schema=")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def run_one(backend: str, ordering: str, args: argparse.Namespace, workdir: Path,
            receiver: ReceiverProcess) -> Run:
    name = f"{backend}-{ordering}"
    # No retries: the backlog case dead-letters every delivery at its first (refused) attempt.
    server = ServerProcess(
        _database(backend, workdir, args.postgres, name),
        env={"WAHOOKS_LOG_LEVEL": "info", "WAHOOKS_DELIVERED_KEPT": "1000000",
             "WAHOOKS_DEAD_LETTERS_KEPT": "1000000", "WAHOOKS_RETRY_SCHEDULE": ""},
    ).start()
    try:
        client = server.client()
        connection_id = connected_connection(client)["id"]
        # live: deliveries while the events arrive as fast as the server takes them
        live_path = f"/h/{name}/live"
        live = _webhook(client, connection_id, receiver.url(live_path), ordering)
        receiver.track(live_path, live["signingSecret"])
        assert server.process is not None
        cpu = cpu_seconds(server.process.pid)
        load = _load(server, connection_id, f"{name}-live", args)
        live_figures = _drained(receiver, live_path, load["statuses"].get("201", 0),
                                args.drain_timeout)
        cpu = cpu_seconds(server.process.pid) - cpu
        client.put(f"/webhooks/{live['id']}", json={"active": False})
        # backlog: every event dead-lettered at a refused port, then all redelivered at once to
        # the receiver: how fast a deep backlog drains (ordered: 100 lines of 100)
        backlog_path = f"/h/{name}/backlog"
        backlog = _webhook(client, connection_id, f"http://127.0.0.1:{free_port()}/refused",
                           ordering)
        receiver.track(backlog_path, backlog["signingSecret"])
        accepted = _load(server, connection_id, f"{name}-backlog", args)["statuses"].get("201", 0)
        _wait_settled(client, backlog["id"], args.drain_timeout)
        client.put(f"/webhooks/{backlog['id']}", json={"url": receiver.url(backlog_path)})
        client.post(f"/webhooks/{backlog['id']}/redeliver-failed")
        backlog_figures = _drained(receiver, backlog_path, accepted, args.drain_timeout)
        client.close()
    finally:
        server.stop()
        if backend == "postgres":
            asyncio.run(_drop_schema(str(server.database)))
    return Run(backend, ordering, live_figures, backlog_figures,
               load["statuses"].get("201", 0) / load["elapsed_s"] if load["elapsed_s"] else 0.0,
               cpu)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="which of sqlite,postgres to run (postgres needs --postgres)")
    parser.add_argument("--postgres", metavar="URL",
                        help="also run on PostgreSQL (a fresh schema of this database per run)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wahooks-bench-ordering-"))
    print(f"wahooks ordering benchmark: {os.cpu_count()} cores, load average"
          f" {Path('/proc/loadavg').read_text().split()[0]}, Python {platform.python_version()},"
          f" {args.events} events from {args.chats} chats, {args.concurrency} in flight")
    print(versions_line())
    receiver = ReceiverProcess().start()
    backends = [b for b in args.backends.split(",") if b != "postgres" or args.postgres]
    runs: list[Run] = []
    try:
        for backend in backends:
            for ordering in ("none", "chat"):
                runs.append(run_one(backend, ordering, args, workdir, receiver))
    finally:
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{'backend':9} {'ordering':9} {'live/s':>8} {'backlog/s':>10} {'delivered':>10}"
          f" {'dup':>4} {'ingest/s':>9} {'live server cpu s':>18}")
    for run in runs:
        delivered = run.live.unique + run.backlog.unique
        duplicates = run.live.received + run.backlog.received - delivered
        print(f"{run.backend:9} {run.ordering:9} {run.live.rate:8.0f} {run.backlog.rate:10.0f}"
              f" {delivered:10d} {duplicates:4d} {run.ingest_rate:9.0f} {run.server_cpu_s:18.1f}")
    for backend in backends:
        plain, ordered = (next(r for r in runs if r.backend == backend and r.ordering == o)
                          for o in ("none", "chat"))
        for label, a, b in (("live", plain.live, ordered.live),
                            ("backlog", plain.backlog, ordered.backlog)):
            ratio = b.rate / a.rate if a.rate else 0.0
            verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
            print(f"{backend} {label}: ordered/unordered = {ratio:.2f} ({verdict} the target of at"
                  f" least {TARGET_RATIO:.1f})")

if __name__ == "__main__":
    main()
