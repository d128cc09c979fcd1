"""Issue 17's figures in one run, as markdown tables side by side: this checkout, and optionally a
baseline checkout measured case by case in the same sitting.

    .venv/bin/python bench/perf.py --all [--quick] [--baseline PATH] [--rounds R] [--keep]
    .venv/bin/python bench/perf.py --sections delivery,postgres [--quick]

Sections (--all runs every one):
  ceiling   what the receiver takes from a raw client, no wahooks in between (printed once)
  delivery  SQLite, one process: the sandbox burst and the signed WAHA burst (N events as fast
            as accepted), then both at 500 events/s (p50/p99); bench/delivery.py's cases
  postgres  the sandbox burst on SQLite, on PostgreSQL in one process, and on an API process + 1, 2,
            4 `--role worker` processes; CPU per 1,000 deliveries by role (API, workers,
            PostgreSQL backends) and the rate that CPU allows on 4, 8, 16 cores; bench/scale_out.py
  backlog   1,000,000 deliveries pending over 1,000 webhooks behind a down receiver, then
            drained, on SQLite and PostgreSQL; bench/backlog.py

--quick: small sizes for a smoke run (2,000-event bursts, 3 s paced runs, a 20,000-delivery
backlog over 100 webhooks): it checks the harness, its figures mean little.

--baseline PATH: another checkout of wahooks (e.g. `git worktree add ../wahooks-before <commit>`,
then `bash scripts/install` in it) whose `wahooks serve` runs the same cases, interleaved with
this checkout's (this, baseline; then baseline, this in the next round, so drift on the machine
falls on both); the tables show both and the ratio this/baseline. Only the server comes from the
baseline: receivers, load generators, the fake WAHA and the arithmetic are this checkout's.

--rounds R: run every case R times per checkout; the tables show the median round.

Figures, never asserts. On a shared 2-core machine the load generator, the receiver and PostgreSQL
compete with wahooks for the cores: measure on a quiet machine, compare within one sitting.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import backlog as backlog_bench
import delivery
import scale_out
from checkout import THIS, Checkout, baseline
from harness import ReceiverProcess, versions_line
from waha_link import start_fake_waha

SECTIONS = ("ceiling", "delivery", "postgres", "backlog")
CORES = (4, 8, 16)
# Issue 17's targets, printed beside the figures.
TARGET_RATE, TARGET_CPU_PER_1K, TARGET_P99_MS = 6000.0, 0.15, 10.0
PG_SHARE_OF_SQLITE = 0.8
TARGET_BACKLOG_RSS_MIB = 150.0


# markdown -------------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(this: float | None, before: float | None) -> str:
    if this is None or not before:
        return "n/a"
    return f"x{this / before:.2f}"


def median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


class Comparison:
    """Figures per (row, checkout) over rounds; rows of a table with the median and the ratio."""

    def __init__(self, checkouts: Sequence[Checkout]) -> None:
        self.checkouts = checkouts
        self.figures: dict[tuple[str, str], list[dict[str, float | None]]] = {}

    def add(self, row: str, checkout: Checkout, figures: dict[str, float | None]) -> None:
        self.figures.setdefault((row, checkout.label), []).append(figures)

    def value(self, row: str, label: str, key: str) -> float | None:
        return median([f.get(key) for f in self.figures.get((row, label), [])])

    def rows(self, names: Sequence[str], columns: Sequence[tuple[str, str, int]]
             ) -> list[list[str]]:
        """Each name's row per checkout and, with a baseline, the ratio this/baseline."""
        out = []
        for name in names:
            for checkout in self.checkouts:
                if (name, checkout.label) in self.figures:
                    out.append([name, checkout.label] + [
                        num(self.value(name, checkout.label, key), digits)
                        for _, key, digits in columns])
            if len(self.checkouts) > 1:
                out.append([name, "this/baseline"] + [
                    ratio(self.value(name, "this", key), self.value(name, "baseline", key))
                    for _, key, _ in columns])
        return out

    def table(self, names: Sequence[str], columns: Sequence[tuple[str, str, int]]) -> str:
        headers = ["case", "checkout"] + [title for title, _, _ in columns]
        return table(headers, self.rows(names, columns))


def interleaved(checkouts: Sequence[Checkout], rounds: int) -> list[Checkout]:
    """this, baseline, baseline, this, ...: each checkout runs first in every other round."""
    order: list[Checkout] = []
    for n in range(rounds):
        order += list(checkouts) if n % 2 == 0 else list(reversed(checkouts))
    return order


def section(title: str, body: str, notes: str = "") -> None:
    print(f"\n### {title}\n\n{body}\n" + (f"\n{notes}\n" if notes else ""), flush=True)


# the sections ---------------------------------------------------------------------------------------


def run_ceiling(receiver: ReceiverProcess, quick: bool) -> None:
    runs = delivery.ceiling(receiver, 2000 if quick else 20_000)
    rows = [[f"{run['connections']} x {run['depth']}",
             num(run["load"]["answered"] / run["load"]["elapsed_s"]),
             num(run["receiver_cpu"] / max(run["load"]["answered"], 1) * 1e6)] for run in runs]
    section("Receiver ceiling (raw asyncio client -> bench/receiver.py, no wahooks)",
            table(["connections x in flight", "requests/s", "receiver CPU us/request"], rows))


def delivery_args(quick: bool) -> argparse.Namespace:
    return argparse.Namespace(
        cases="burst,waha-burst,steady,waha-steady", events=2000 if quick else 20_000,
        steady_rate=500.0, steady_seconds=3.0 if quick else 30.0, hung_rate=300.0,
        hung_seconds=20.0, hung_account_events=200, request_timeout=15.0, drain_timeout=60.0,
        concurrency=delivery.CONCURRENCY, profile="", profile_blocking=False, profile_gil=False,
    )


DELIVERY_COLUMNS = [("deliveries/s", "rate", 0), ("CPU s/1k deliveries", "cpu", 3),
                    ("p50 ms", "p50", 1), ("p99 ms", "p99", 1), ("max ms", "max", 1),
                    ("peak RSS MiB", "rss", 0), ("lost", "lost", 0), ("dup", "dup", 0),
                    ("busy elsewhere", "noise", 2)]


def run_delivery(checkouts: Sequence[Checkout], rounds: int, quick: bool, workdir: Path,
                 receiver: ReceiverProcess) -> Comparison:
    args = delivery_args(quick)
    cases = delivery.cases_from(args)
    fake_waha = start_fake_waha()
    found = Comparison(checkouts)
    try:
        for case in cases:
            for checkout in interleaved(checkouts, rounds):
                try:
                    r = delivery.run_case(case, args, workdir, receiver, None, None,
                                          fake_waha=fake_waha, checkout=checkout)
                except RuntimeError as exc:
                    print(f"  {case.name} ({checkout.label}) FAILED: {str(exc)[:300]}")
                    continue
                print(f"  {case.name} ({checkout.label}): {r.e2e_rate:.0f} deliveries/s,"
                      f" {r.cpu_per_1k:.3f} CPU s/1k, p99 {delivery.ms(r.latency('p99')).strip()}"
                      f" ms, lost {r.lost}", flush=True)
                found.add(case.name, checkout, {
                    "rate": r.e2e_rate, "cpu": r.cpu_per_1k, "p50": r.latency("p50"),
                    "p99": r.latency("p99"), "max": r.latency("max"), "rss": r.peak_rss,
                    "lost": float(r.lost), "dup": float(r.stats["duplicates"]),
                    "noise": outside_cores(r)})
    finally:
        fake_waha.__exit__(None, None, None)
    notes = (f"{args.events:,}-event bursts closed loop ({args.concurrency} connections), 1 webhook;"
             f" steady: {args.steady_rate:g} events/s for {args.steady_seconds:g} s, open loop."
             " Each event acknowledged (201) only once committed. deliveries/s: unique deliveries"
             " at the receiver / (last receipt - first request sent). CPU: wahooks' process"
             " (utime + stime from /proc), first request to drained. Latency: sandbox, from the"
             " event's creation in wahooks; WAHA, from the moment the load generator stamped the"
             " event (so it includes the ingest request) -> receipt. busy elsewhere: cores kept"
             " busy meanwhile by processes outside the benchmark (other users): above ~0.3 the"
             " row is noise.")
    section("Delivery on SQLite: sandbox inbound vs signed WAHA events",
            found.table([c.name for c in cases], DELIVERY_COLUMNS), notes)
    return found


def outside_cores(r: delivery.Result) -> float:
    ours = r.server_cpu + r.receiver_cpu + float(r.load["cpu_s"])
    return max(r.machine_cpu - ours, 0.0) / max(r.wall, 1e-9)


POSTGRES_CONFIGS = ("sqlite", "pg-all", "pg-1w", "pg-2w", "pg-4w")
POSTGRES_COLUMNS = [("deliveries/s", "rate", 0), ("API s/1k", "api", 3),
                    ("workers s/1k", "workers", 3), ("PostgreSQL s/1k", "postgres", 3),
                    ("total s/1k", "total", 3), ("PG background s/1k", "background", 3),
                    ("p99 ms", "p99", 1), ("lost", "lost", 0),
                    ("busy elsewhere", "noise", 2)]


def run_postgres(checkouts: Sequence[Checkout], rounds: int, quick: bool, workdir: Path,
                 receiver: ReceiverProcess) -> Comparison:
    args = argparse.Namespace(events=2000 if quick else 20_000, concurrency=delivery.CONCURRENCY,
                              request_timeout=15.0, drain_timeout=120.0)
    cases = [scale_out.Case("burst", args.events, None)]
    found = Comparison(checkouts)
    schemas: list[str] = []
    for name in POSTGRES_CONFIGS:
        for checkout in interleaved(checkouts, rounds):
            results, _, failure = scale_out.run_config(
                scale_out.CONFIGS[name], cases, args, workdir, receiver, schemas, checkout)
            for r in results:
                roles = {role: r.per_1k(seconds) for role, seconds in r.role_cpu().items()}
                found.add(name, checkout, {
                    "rate": r.rate, **roles, "total": sum(roles.values()),
                    "background": r.per_1k(r.pg_background_cpu),
                    "p99": r.latency("p99"), "lost": float(r.lost), "noise": r.outside_cores})
            if failure:
                print(f"  {name} ({checkout.label}) FAILED: {failure}")
    body = found.table(POSTGRES_CONFIGS, POSTGRES_COLUMNS)
    body += "\n\n" + projection(found, checkouts)
    notes = (f"The sandbox burst, {args.events:,} events, 1 webhook. API s/1k: the API process"
             " (or the one all-role process); PostgreSQL s/1k: the backends serving wahooks (found"
             " by application_name, CPU from /proc); total: the three. PG background: PostgreSQL's"
             " own processes (WAL writer, checkpointer, autovacuum...), which also work for anyone"
             " else using that server: count it on a PostgreSQL of the benchmark's own."
             " With SQLite the database's work is inside the wahooks process. On 2 cores the"
             " workers cannot add CPU: what should stay flat from 1 to 4 workers is total s/1k.")
    section("PostgreSQL: one process, and an API + N workers (CPU per delivery by role)", body, notes)
    return found


def projection(found: Comparison, checkouts: Sequence[Checkout]) -> str:
    """The rate the measured CPU per delivery allows on more cores, if nothing else limits it."""
    rows = []
    for name in POSTGRES_CONFIGS[1:]:
        workers = scale_out.CONFIGS[name].workers
        for checkout in checkouts:
            value = functools.partial(found.value, name, checkout.label)
            total, api, spent = value("total"), value("api"), value("workers")
            if not total or not api:
                continue
            ceilings = []
            for cores in CORES:
                limits = [cores / total]
                if workers and spent:
                    limits.append(workers / spent)  # each worker process uses one core at most
                if not workers:
                    limits.append(1 / api)  # the one all-role process does everything
                ceilings.append(num(min(limits) * 1000))
            rows.append([name, checkout.label, *ceilings, num(1000 / api)])
    headers = (["config", "checkout"] + [f"{cores} cores, deliveries/s" for cores in CORES]
               + ["one API process caps at"])
    return (table(headers, rows) + "\n\n"
            "Projection: cores / (wahooks + PostgreSQL CPU seconds per delivery), or N workers / "
            "(the workers' seconds per delivery) when less (a Python process uses one core at most;"
            " the all-role process: 1 / its own): every core busy with this work alone, CPU per "
            "delivery as measured here. The last column is what one API (or all-role) process takes"
            " at most: 1 / its seconds per delivery; beyond it the ingest needs more API processes "
            "(more hosts, or SO_REUSEPORT on one). A ceiling: it holds only if CPU per delivery "
            "stays flat as workers are added (compare total s/1k from 1 to 4 workers above), and it"
            " leaves out the receivers and load generators, lock contention in PostgreSQL, its "
            "background processes and the WAL's fsync.")


BACKLOG_COLUMNS = [("ingest events/s", "ingest", 0), ("RSS peak MiB", "rss", 0),
                   ("RSS pending MiB", "rss_pending", 0), ("DB MiB", "db", 0),
                   ("drain deliveries/s", "drain", 0), ("logs p99 ms", "logs_p99", 1),
                   ("healthy p99 ms", "healthy_p99", 1), ("trim s", "trim", 1)]


def backlog_args(quick: bool, pending: int | None = None,
                 webhooks: int | None = None) -> argparse.Namespace:
    return argparse.Namespace(
        pending=pending or (20_000 if quick else 1_000_000),
        webhooks=webhooks or (100 if quick else 1000),
        per_connection=10, kept=100, drain_timeout=3600.0, trim_timeout=1800.0,
        concurrency=delivery.CONCURRENCY)


def run_backlog(checkouts: Sequence[Checkout], rounds: int, quick: bool,
                workdir: Path, pending: int | None = None,
                webhooks: int | None = None) -> Comparison:
    args = backlog_args(quick, pending, webhooks)
    found = Comparison(checkouts)
    down, healthy = ReceiverProcess().start(), ReceiverProcess().start()
    try:
        for backend in ("sqlite", "postgres"):
            for checkout in interleaved(checkouts, rounds):
                r = backlog_bench.run_backend(backend, args, workdir, checkout, down, healthy)
                backlog_bench.print_result(r)
                found.add(backend, checkout, {
                    "ingest": r.ingest_rate, "rss": max(r.peak_rss_mib, r.drain_rss_mib),
                    "rss_pending": r.rss_after_mib, "db": r.database_mib, "drain": r.drain_rate,
                    "logs_p99": r.logs_ms.get("p99"), "healthy_p99": r.healthy_ms.get("p99"),
                    "trim": r.trim_s})
    finally:
        down.stop()
        healthy.stop()
    notes = (f"{args.pending:,} deliveries = {args.pending // args.per_connection:,} events through"
             f" the real API (nothing pre-filled) to {args.webhooks:,} webhooks ({args.per_connection}"
             " per connection: each event becomes that many deliveries) whose receiver holds every"
             " request unanswered; then it answers. ingest: events/s accepted while the backlog"
             " grows. RSS pending: wahooks' resident memory with the whole backlog pending. DB:"
             " the database's size then (SQLite file + WAL; PostgreSQL tables + indexes). logs"
             " p99: GET /api/webhooks/:id/logs on a backlog webhook, every 0.1 s while draining;"
             " healthy p99: a new event every 0.1 s to a webhook on another receiver, created ->"
             f" received, while draining. trim: the first retention sweep after a restart,"
             f" keeping {args.kept} delivered per webhook (or a tenth of each webhook's"
             " deliveries, the fewer).")
    section("Backlog: pending deliveries behind a down receiver, then drained",
            found.table(["sqlite", "postgres"], BACKLOG_COLUMNS), notes)
    return found


# targets --------------------------------------------------------------------------------------------


def print_targets(checkouts: Sequence[Checkout], results: dict[str, Comparison]) -> None:
    rows: list[list[str]] = []

    def check(what: str, section_name: str, row: str, key: str, good: Callable[[float], bool],
              digits: int = 0) -> None:
        found = results.get(section_name)
        if found is None:
            return
        for checkout in checkouts:
            value = found.value(row, checkout.label, key)
            verdict = "n/a" if value is None else ("met" if good(value) else "NOT met")
            rows.append([what, checkout.label, num(value, digits), verdict])

    for case in ("burst", "waha-burst"):
        check(f">= {TARGET_RATE:,.0f} deliveries/s ({case})", "delivery", case, "rate",
              lambda v: v >= TARGET_RATE)
        check(f"<= {TARGET_CPU_PER_1K} CPU s per 1,000 deliveries ({case})", "delivery", case,
              "cpu", lambda v: v <= TARGET_CPU_PER_1K, 3)
    for case in ("steady", "waha-steady"):
        check(f"p99 <= {TARGET_P99_MS:g} ms at 500 events/s ({case})", "delivery", case, "p99",
              lambda v: v <= TARGET_P99_MS, 1)
    pg = results.get("postgres")
    if pg is not None:
        for checkout in checkouts:
            sqlite, one = pg.value("sqlite", checkout.label, "rate"), pg.value(
                "pg-all", checkout.label, "rate")
            if sqlite and one is not None:
                rows.append([f"PostgreSQL one process >= {PG_SHARE_OF_SQLITE:.0%} of SQLite",
                             checkout.label, f"{one / sqlite:.0%}",
                             "met" if one >= PG_SHARE_OF_SQLITE * sqlite else "NOT met"])
            two = pg.value("pg-2w", checkout.label, "rate")
            if one and two is not None:
                rows.append(["API + 2 workers no slower than one process", checkout.label,
                             f"{two / one:.0%}", "met" if two >= one else "NOT met"])
            w1, w4 = (pg.value(n, checkout.label, "total") for n in ("pg-1w", "pg-4w"))
            if w1 and w4 is not None:
                rows.append(["CPU per delivery flat from 1 to 4 workers (4w / 1w)",
                             checkout.label, f"x{w4 / w1:.2f}", "judge (noise)"])
    check(f"RSS <= {TARGET_BACKLOG_RSS_MIB:g} MiB with the backlog pending (SQLite)", "backlog",
          "sqlite", "rss_pending", lambda v: v <= TARGET_BACKLOG_RSS_MIB)
    check(f"RSS <= {TARGET_BACKLOG_RSS_MIB:g} MiB with the backlog pending (PostgreSQL)",
          "backlog", "postgres", "rss_pending", lambda v: v <= TARGET_BACKLOG_RSS_MIB)
    if rows:
        section("Issue 17's targets", table(["target", "checkout", "measured", "verdict"], rows))


# main -----------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every section")
    parser.add_argument("--sections", default="", help=f"comma separated, from {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--baseline", metavar="PATH", help="another checkout, with its own .venv")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    parser.add_argument("--backlog-pending", type=int, metavar="N",
                        help="the backlog's size (default 1,000,000; 20,000 with --quick)")
    parser.add_argument("--backlog-webhooks", type=int, metavar="W",
                        help="the webhooks it spreads over (default 1,000; 100 with --quick)")
    args = parser.parse_args()
    chosen = list(SECTIONS) if args.all else [s.strip() for s in args.sections.split(",") if s]
    unknown = [name for name in chosen if name not in SECTIONS]
    if not chosen or unknown:
        parser.error(f"choose --all or --sections from {', '.join(SECTIONS)}")
    args.chosen = chosen
    return args


def main() -> None:
    args = parse_args()
    checkouts = [THIS] + ([baseline(args.baseline)] if args.baseline else [])
    workdir = Path(tempfile.mkdtemp(prefix="wahooks-perf-"))
    print(f"## wahooks performance ({'quick smoke run' if args.quick else 'full run'})\n")
    print(f"- machine: {os.cpu_count()} cores, load average"
          f" {Path('/proc/loadavg').read_text().split()[0]} at the start")
    for checkout in checkouts:
        print(f"- {checkout.describe()}")
    print(f"- {versions_line()} (this checkout's interpreter)")
    print(f"- rounds per case and checkout: {args.rounds} (median shown); workdir {workdir}")
    results: dict[str, Any] = {}
    receiver = ReceiverProcess().start()
    try:
        if "ceiling" in args.chosen:
            run_ceiling(receiver, args.quick)
        if "delivery" in args.chosen:
            results["delivery"] = run_delivery(checkouts, args.rounds, args.quick, workdir,
                                               receiver)
        if "postgres" in args.chosen:
            results["postgres"] = run_postgres(checkouts, args.rounds, args.quick, workdir,
                                               receiver)
        if "backlog" in args.chosen:
            results["backlog"] = run_backlog(checkouts, args.rounds, args.quick, workdir,
                                             args.backlog_pending, args.backlog_webhooks)
        print_targets(checkouts, results)
    finally:
        receiver.stop()
        if args.keep:
            print(f"\nkept {workdir}: server logs, SQLite files")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
