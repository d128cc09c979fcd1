"""Scale-out benchmark: SQLite in one process beside PostgreSQL with 1 API and 1, 2, 4 workers.

    .venv/bin/python bench/scale_out.py [--configs sqlite,pg-all,pg-1w,pg-2w,pg-4w,pg-2a2w]
                                        [--events N] [--paced-rate R] [--paced-seconds S] [--keep]

One receiver (bench/receiver.py) for the whole run; every configuration gets fresh wahooks
processes on a fresh SQLite file or a fresh PostgreSQL schema (dropped afterwards), and runs the
same two cases, each on its own sandbox connection with 1 webhook:

  burst   N events (default 10,000) as fast as the API accepts them: deliveries/s
  paced   300 events/s for 15 s, open loop: p99 latency (event created -> received)

Configurations:
  sqlite  one `wahooks serve` on SQLite, role all
  pg-all  one process on PostgreSQL, role all
  pg-Nw   one role-api process (all the load goes to it) and N role-worker processes
  pg-2a2w two role-api processes sharing the port (serve --reuse-port; the kernel spreads the load
          generator's connections) and 2 workers: ingest on more than one core

A case ends when the receiver has every accepted event and the API lists nothing pending. CPU is
utime + stime from /proc/<pid>/stat, summed over every wahooks process of the configuration; the
PostgreSQL backends serving them (found by application_name) are shown apart. It prints figures
and a no-collapse verdict and never asserts: timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from checkout import THIS, Checkout
from delivery import CONCURRENCY, LOG_PATTERN, ORIGINAL_RATE, drain, ms, server_env
from harness import (
    ReceiverProcess,
    cpu_seconds,
    fresh_file,
    machine_busy_seconds,
    run_loadgen,
    versions_line,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.server import ServerProcess, connected_connection  # noqa: E402

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
APPLICATION_NAME = "wahooks-bench-scale-out"
# No collapse: with more workers the burst keeps at least this share of the 1-worker rate, and
# the paced p99 stays within this factor (plus a floor, for tiny p99s) of the 1-worker p99.
KEEP_RATE_SHARE = 0.5
P99_FACTOR, P99_FLOOR_MS = 3.0, 20.0
# Cores busy outside the benchmark beyond which a comparison says more about the neighbours.
NOISY_CORES = 0.3
NOTES = """\
  * This machine has 2 cores, shared by the load generator, the receiver, PostgreSQL and every
    wahooks process. More workers cannot bring more CPU here, so the point of this run is
    correctness (lost 0, duplicated 0, nothing left pending) and no collapse as workers are
    added, not linear scaling; scaling out pays on more cores or more machines.
  * deliv/s: unique deliveries / (last receipt - first request sent). Latency: the event's
    timestamp (set when wahooks creates it) -> the receiver's clock at receipt, same machine.
  * cpu s/1k: CPU of all wahooks processes (API + workers) from the first request to settled,
    per 1,000 deliveries. pg s/1k: the PostgreSQL backends serving them, not in cpu s/1k (with
    SQLite that work happens inside the wahooks process); approximate: a backend that exits
    during a case takes its CPU with it."""


@dataclass(frozen=True)
class Config:
    name: str
    postgres: bool
    workers: int  # 0: one process with role all
    apis: int = 1  # API processes sharing the port (serve --reuse-port)

    def describe(self) -> str:
        store = "PostgreSQL" if self.postgres else "SQLite"
        if not self.workers:
            return f"{store}, 1 process (role all)"
        apis = f"{self.apis} APIs on one port" if self.apis > 1 else "1 API"
        return f"{store}, {apis} + {self.workers} worker{'s' if self.workers > 1 else ''}"


CONFIGS = {
    "sqlite": Config("sqlite", postgres=False, workers=0),
    "pg-all": Config("pg-all", postgres=True, workers=0),
    **{f"pg-{n}w": Config(f"pg-{n}w", postgres=True, workers=n) for n in (1, 2, 4, 8)},
    # Ingest in two processes on one port: what --reuse-port adds on one host.
    "pg-2a2w": Config("pg-2a2w", postgres=True, workers=2, apis=2),
}


@dataclass(frozen=True)
class Case:
    name: str
    events: int
    rate: float | None  # None: closed loop, as fast as the API answers


@dataclass
class Result:
    config: Config
    case: Case
    load: dict[str, Any]
    stats: dict[str, Any]
    accepted: int
    lost: int
    unexpected: int
    settled: bool
    cpu: dict[str, float]  # per wahooks process
    pg_cpu: float
    receiver_cpu: float
    machine_cpu: float  # every process on the machine, ours or not
    wall: float
    pg_background_cpu: float = 0.0  # PostgreSQL's own processes, shared with its other users

    @property
    def delivered(self) -> int:
        return int(self.stats["unique"])

    @property
    def rate(self) -> float:
        last = self.stats["last_ms"] or self.load["first_ms"]
        return self.delivered / max((float(last) - float(self.load["first_ms"])) / 1000, 1e-9)

    def per_1k(self, seconds: float) -> float:
        return seconds / max(self.delivered, 1) * 1000

    def role_cpu(self) -> dict[str, float]:
        """CPU seconds by role: the API (or the one all-role process), the workers together, the
        PostgreSQL backends serving them."""
        workers = sum(seconds for name, seconds in self.cpu.items() if name.startswith("w"))
        api = sum(self.cpu.values()) - workers
        return {"api": api, "workers": workers, "postgres": self.pg_cpu}

    @property
    def outside_cores(self) -> float:
        """Cores kept busy by processes that are not this benchmark's (other users, PostgreSQL's
        background processes): how noisy the figures are."""
        ours = sum(self.cpu.values()) + self.pg_cpu + self.receiver_cpu + float(self.load["cpu_s"])
        return max(self.machine_cpu - ours, 0.0) / self.wall

    def latency(self, key: str) -> float | None:
        value = self.stats["latency_ms"][key]
        return None if value is None else float(value)


@dataclass
class Deployment:
    """The wahooks processes of one configuration: the API (or all-role) process first."""

    config: Config
    database: str
    env: dict[str, str]
    checkout: Checkout = THIS
    processes: dict[str, ServerProcess] = field(default_factory=dict)

    def start(self) -> Deployment:
        roles = [("api", "api")] if self.config.workers else [("all", "all")]
        roles += [(f"api{n + 1}", "api") for n in range(1, self.config.apis)]
        roles += [(f"w{n + 1}", "worker") for n in range(self.config.workers)]
        shared = {"WAHOOKS_REUSE_PORT": "1"} if self.config.apis > 1 else {}
        for name, role in roles:
            # Kept before it starts: a process that fails to start still leaves its log.
            process = self.checkout.server(self.database, role=role, env={**self.env, **shared})
            self.processes[name] = process
            if role == "api" and name != "api":
                process.port = self.api.port  # the kernel spreads the connections over both
            process.start()
        return self

    @property
    def api(self) -> ServerProcess:
        return next(iter(self.processes.values()))

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(self.pid(p)) for name, p in self.processes.items()}

    def exited(self) -> list[str]:
        return [name for name, p in self.processes.items()
                if p.process is not None and p.process.poll() is not None]

    @staticmethod
    def pid(process: ServerProcess) -> int:
        assert process.process is not None
        return process.process.pid

    def stop(self, workdir: Path) -> list[str]:
        """Stop every process (workers first); their logs, each line tagged with its process."""
        lines = []
        for name, process in reversed(self.processes.items()):
            process.stop()
            log = "".join(process.output)
            logged = workdir / f"{self.checkout.label}-{self.config.name}.{name}.log"
            with logged.open("a") as kept:  # one file over rounds
                kept.write(log)
            lines += [f"{name}: {line}" for line in log.splitlines()]
        return lines


# PostgreSQL -----------------------------------------------------------------------------------------


async def _query(sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def drop_schema(schema: str) -> None:
    asyncio.run(_query(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def backend_cpu() -> dict[int, float]:
    """CPU seconds of each live PostgreSQL backend serving this benchmark's wahooks processes."""
    return _cpu_of(asyncio.run(_query(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", APPLICATION_NAME)))


def background_cpu() -> dict[int, float]:
    """CPU seconds of PostgreSQL's own processes (WAL writer, checkpointer, background writer,
    autovacuum...): they work for every database on the server, not only this benchmark's."""
    return _cpu_of(asyncio.run(_query(
        "SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'")))


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


def _cpu_of(rows: list[Any]) -> dict[int, float]:
    seconds = {}
    for row in rows:
        try:
            seconds[row["pid"]] = cpu_seconds(row["pid"])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the backend ended meanwhile
    return seconds


# one case ---------------------------------------------------------------------------------------


def create_webhook(client: httpx.Client, connection_id: str, receiver: ReceiverProcess,
                   path: str) -> str:
    created = client.post(f"/connections/{connection_id}/webhooks",
                          json={"url": receiver.url(path), "events": ["message"]})
    if created.status_code != 201:
        raise RuntimeError(f"webhook not created: {created.status_code} {created.text}")
    receiver.track(path, created.json()["signingSecret"])
    webhook_id: str = created.json()["id"]
    return webhook_id


def settle(client: httpx.Client, webhook_id: str, timeout: float) -> bool:
    """Wait until the API lists no pending delivery for the webhook: every outcome recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = client.get(f"/webhooks/{webhook_id}/logs",
                             params={"status": "pending", "limit": 1})
        if pending.status_code == 200 and not pending.json():
            return True
        time.sleep(0.1)
    return False


def run_case(deployment: Deployment, case: Case, args: argparse.Namespace,
             receiver: ReceiverProcess) -> Result:
    api, config = deployment.api, deployment.config
    prefix = f"/h/{deployment.checkout.label}-{config.name}/{case.name}/"
    with api.client() as client:
        connection_id = connected_connection(client)["id"]
        webhook_id = create_webhook(client, connection_id, receiver, prefix + "0")
        cpu_before = deployment.cpu()
        pg_before = backend_cpu() if config.postgres else {}
        background_before = background_cpu() if config.postgres else {}
        machine_before, receiver_before = machine_busy_seconds(), cpu_seconds(receiver.pid)
        started = time.monotonic()
        load = run_loadgen(
            {"mode": "ingest", "base_url": api.base_url, "token": api.token,
             "connection_id": connection_id, "case": case.name, "count": case.events,
             "concurrency": args.concurrency, "rate": case.rate},
            timeout=case.events / (case.rate or 200) + 120,
        )
        accepted = load["statuses"].get("201", 0)
        drain(receiver, prefix, accepted, args.drain_timeout)
        settled = settle(client, webhook_id, args.drain_timeout)
        wall = time.monotonic() - started
        cpu = {name: now - cpu_before[name] for name, now in deployment.cpu().items()}
        pg_cpu = cpu_since(pg_before, backend_cpu()) if config.postgres else 0.0
        background = cpu_since(background_before, background_cpu()) if config.postgres else 0.0
        machine_cpu = machine_busy_seconds() - machine_before
        receiver_cpu = cpu_seconds(receiver.pid) - receiver_before
    stats = receiver.stats(prefix)
    expected = set(range(case.events)) - set(load["failed"])
    got = {seq for seqs in stats["seqs"].values() for seq in seqs}
    return Result(config, case, load, stats, accepted, len(expected - got), len(got - expected),
                  settled, cpu, pg_cpu, receiver_cpu, machine_cpu, wall, background)


def run_config(config: Config, cases: list[Case], args: argparse.Namespace, workdir: Path,
               receiver: ReceiverProcess, schemas: list[str], checkout: Checkout = THIS,
               ) -> tuple[list[Result], list[str], str]:
    """The configuration's results, its flagged log lines, and why it failed (or "")."""
    env = server_env(args)
    if config.postgres:
        schemas.append(f"wahooks_bench_{uuid.uuid4().hex[:12]}")
        database = f"{POSTGRES_URL}?schema={schemas[-1]}&application_name={APPLICATION_NAME}"
    else:
        database = str(fresh_file(workdir, f"{checkout.label}-{config.name}", ".db"))
    print(f"\n== {config.name} ({checkout.label}): {config.describe()}; load average"
          f" {Path('/proc/loadavg').read_text().split()[0]}", flush=True)
    deployment = Deployment(config, database, env, checkout)
    results: list[Result] = []
    try:
        deployment.start()
        for case in cases:
            results.append(run_case(deployment, case, args, receiver))
            print_case(results[-1])
        failure = ", ".join(deployment.exited())
        failure = f"wahooks process(es) exited during the run: {failure}" if failure else ""
    except (RuntimeError, AssertionError, OSError, httpx.HTTPError) as exc:
        # The tree is edited concurrently: report the configuration and go on with the next.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        failure = f"{type(exc).__name__}: {' ... '.join(lines[:1] + lines[1:][-1:])}"
    finally:
        log = deployment.stop(workdir)
        if config.postgres:
            drop_schema(schemas[-1])
    if failure:
        print(f"  FAILED: {failure}")
    flagged = [line for line in log if LOG_PATTERN.search(line)]
    counts = {kind: sum(kind in line for line in flagged)
              for kind in ("ERROR", "CRITICAL", "Traceback", "WARNING")}
    print("  server logs " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    for line in flagged[:8]:
        print(f"    | {line[:160]}")
    return results, flagged, failure


# printing -------------------------------------------------------------------------------------------


def print_case(r: Result) -> None:
    load, stats, case = r.load, r.stats, r.case
    refused = {k: v for k, v in load["statuses"].items() if k != "201"}
    pace = f"at {case.rate:g}/s" if case.rate else "as fast as possible"
    lag = f", schedule lag max {load['max_lag_ms']:.0f} ms" if case.rate else ""
    print(f"  {case.name}: {case.events} events {pace}: {r.accepted} accepted in"
          f" {load['elapsed_s']:.2f} s ({r.accepted / load['elapsed_s']:.0f}/s, request p99"
          f" {load['request_ms']['p99']:.1f} ms{lag})"
          + (f"; refused {refused}" if refused else ""))
    print(f"    delivered {r.delivered} = {r.rate:.0f}/s; latency p50 {ms(r.latency('p50'))}"
          f" p99 {ms(r.latency('p99'))} max {ms(r.latency('max'))} ms; lost {r.lost},"
          f" duplicated {stats['duplicates']}, bad signatures {stats['bad_signatures']},"
          f" unexpected {r.unexpected}; {'settled' if r.settled else 'STILL PENDING'}"
          f" after {r.wall:.1f} s")
    shares = ", ".join(f"{name} {seconds:.1f}" for name, seconds in r.cpu.items())
    print(f"    CPU s: {shares} = {sum(r.cpu.values()):.1f} s"
          f" ({r.per_1k(sum(r.cpu.values())):.2f}/1k deliveries)"
          + (f"; PostgreSQL backends {r.pg_cpu:.1f} s, its background processes"
             f" {r.pg_background_cpu:.1f} s" if r.config.postgres else "")
          + f"; receiver {r.receiver_cpu:.1f} s, load generator {r.load['cpu_s']:.1f} s")
    roles = ", ".join(f"{role} {r.per_1k(seconds):.3f}" for role, seconds in r.role_cpu().items()
                      if seconds or role != "workers")
    print(f"    CPU s per 1,000 deliveries by role: {roles}")
    print(f"    machine {r.machine_cpu / r.wall:.2f} of {os.cpu_count()} cores busy,"
          f" {r.outside_cores:.2f} of them outside this benchmark")


def print_table(results: list[Result]) -> None:
    print("\n== summary")
    print(f"  {'config':<8}{'procs':>6}{'case':>7}{'events':>8}{'ingest/s':>9}{'deliv/s':>8}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'cpu s/1k':>9}{'pg s/1k':>8}{'lost':>5}"
          f"{'dup':>5}{'settled':>8}{'others':>7}")
    for r in results:
        pg = f"{r.per_1k(r.pg_cpu):8.2f}" if r.config.postgres else f"{'-':>8}"
        print(f"  {r.config.name:<8}{len(r.cpu):>6}{r.case.name:>7}{r.case.events:>8}"
              f"{r.accepted / r.load['elapsed_s']:>9.0f}{r.rate:>8.0f}{ms(r.latency('p50')):>8}"
              f"{ms(r.latency('p99')):>8}{ms(r.latency('max')):>8}"
              f"{r.per_1k(sum(r.cpu.values())):>9.2f}{pg}{r.lost:>5}"
              f"{r.stats['duplicates']:>5}{'yes' if r.settled else 'NO':>8}"
              f"{r.outside_cores:>7.2f}")
    print("  others: cores kept busy outside this benchmark meanwhile (other users, PostgreSQL's"
          " background)")
    print(f"  original WAHooks (PostgreSQL + Redis): {ORIGINAL_RATE} deliveries/s")


def noise(*compared: Result | None) -> str:
    busiest = max((r.outside_cores for r in compared if r is not None), default=0.0)
    if busiest <= NOISY_CORES:
        return ""
    return (f" (inconclusive: {busiest:.2f} cores were busy outside this benchmark;"
            " rerun on a quieter machine)")


def verdicts(results: list[Result], flagged: dict[str, list[str]],
             failures: dict[str, str]) -> None:
    print("\n== verdicts")
    failed = {name: why for name, why in failures.items() if why}
    print(f"  every configuration ran to the end: {'yes' if not failed else 'NO: ' + str(failed)}")
    broken = [f"{r.config.name}/{r.case.name}" for r in results
              if r.lost or r.unexpected or r.stats["duplicates"] or r.stats["bad_signatures"]
              or not r.settled]
    print(f"  integrity (lost 0, duplicated 0, bad signatures 0, settled):"
          f" {'all met' if not broken else 'NOT met in ' + ', '.join(broken)}")
    noisy = {name: len(lines) for name, lines in flagged.items() if lines}
    print(f"  server logs free of ERROR/CRITICAL/Traceback/WARNING:"
          f" {'yes' if not noisy else 'NO: ' + str(noisy)}")
    by = {(r.config.name, r.case.name): r for r in results}
    base_burst, base_paced = by.get(("pg-1w", "burst")), by.get(("pg-1w", "paced"))
    for name in (n for n in CONFIGS if n.startswith("pg-") and n not in ("pg-all", "pg-1w")):
        burst, paced = by.get((name, "burst")), by.get((name, "paced"))
        if burst and base_burst:
            share = burst.rate / max(base_burst.rate, 1e-9)
            print(f"  {name} burst keeps >= {KEEP_RATE_SHARE:.0%} of pg-1w's rate:"
                  f" {burst.rate:.0f} vs {base_burst.rate:.0f}/s ({share:.0%})"
                  f" -> {'no collapse' if share >= KEEP_RATE_SHARE else 'COLLAPSE'}"
                  f"{noise(burst, base_burst)}")
        a = base_paced.latency("p99") if base_paced else None
        b = paced.latency("p99") if paced else None
        if a is not None and b is not None:
            limit = P99_FACTOR * a + P99_FLOOR_MS
            print(f"  {name} paced p99 <= {P99_FACTOR:g} x pg-1w's + {P99_FLOOR_MS:g} ms:"
                  f" {b:.1f} vs {a:.1f} ms (limit {limit:.1f})"
                  f" -> {'no collapse' if b <= limit else 'COLLAPSE'}{noise(paced, base_paced)}")
    print("\n== notes")
    print(NOTES)


# main -----------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="sqlite,pg-all,pg-1w,pg-2w,pg-4w",
                        help=f"comma separated, from {', '.join(CONFIGS)}")
    parser.add_argument("--events", type=int, default=10_000, help="burst events")
    parser.add_argument("--paced-rate", type=float, default=300.0)
    parser.add_argument("--paced-seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--request-timeout", type=float, default=15.0)
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="seconds to wait for outstanding deliveries after the load")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown config(s) {unknown}; choose from {list(CONFIGS)}")
    cases = [Case("burst", args.events, None),
             Case("paced", int(args.paced_rate * args.paced_seconds), args.paced_rate)]
    workdir = Path(tempfile.mkdtemp(prefix="wahooks-scale-out-"))
    print(f"wahooks scale-out benchmark: {os.cpu_count()} cores, workdir {workdir}")
    print(f"cases: burst {args.events} events closed loop ({args.concurrency} connections),"
          f" paced {args.paced_rate:g} events/s for {args.paced_seconds:g} s; 1 webhook each")
    print(f"server settings: {server_env(args)}")
    print(versions_line())
    receiver = ReceiverProcess().start()
    schemas: list[str] = []
    results: list[Result] = []
    flagged: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    try:
        for name in names:
            done, flagged[name], failures[name] = run_config(
                CONFIGS[name], cases, args, workdir, receiver, schemas)
            results += done
        print_table(results)
        verdicts(results, flagged, failures)
    finally:
        receiver.stop()
        for schema in schemas:  # already dropped unless a drop failed
            try:
                drop_schema(schema)
            except (OSError, asyncpg.PostgresError) as exc:
                print(f"could not drop schema {schema}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"\nkept {workdir}: server logs, SQLite files")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
