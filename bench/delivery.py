"""End-to-end delivery benchmark: inbound event -> SQLite -> signed POST -> receiver.

    .venv/bin/python bench/delivery.py [--cases burst,steady,waha,fanout,hung,fair] [--events N]
                                       [--profile CASES] [--keep]

Each case gets a fresh `wahooks serve` on a fresh SQLite file. Three processes besides it: the
receiver (bench/receiver.py, verifies every signature and records every delivery), a second
receiver that never answers (the `hung` case), and the load generator (bench/loadgen.py, one per
case), so none of them shares the server's interpreter or this script's. It prints figures and
never asserts: timings on a shared 2-core machine are noisy, compare runs, not single numbers.

Events come in through the sandbox's inbound route (`POST /api/connections/:id/sandbox/inbound`,
with the token), or, in the waha-* cases, through WAHA's webhook (`POST /api/events/waha`: one
HMAC-SHA512-signed `message` event per request, as a WAHA server sends them, on a connection of the
WAHA engine linked through a fake WAHA; bench/waha_link.py). Either way a request is answered
201 only once its event is committed, so deliveries/s counts what reached the receiver.

Cases:
  burst    N events (default 20,000) as fast as the server accepts them, 1 webhook
  steady   500 events/s for 30 s, paced open loop, 1 webhook
  waha     waha-burst and waha-steady: burst and steady through WAHA's webhook
  fanout   N/10 events as fast as possible to 10 webhooks (N deliveries)
  hung     300 events/s for 20 s to 1 healthy webhook, run twice: alone, then beside a webhook
           whose endpoint accepts connections and never answers (WAHOOKS_REQUEST_TIMEOUT=15)
  fair     the same load as `hung-alone`, and the healthy webhook's p99 beside: a webhook on
           another origin answering 429 with `Retry-After: 1` (throttled); a webhook on the same
           origin (same host and port) whose path never answers (hung-path); another account
           whose webhooks on 10 origins never answer, with enough deliveries waiting to hold
           every slot it may (hung-account). Each of the three may also be named alone.
Before the cases, a raw asyncio client measures what the receiver takes without wahooks in
between: the machine's ceiling.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkout import THIS, Checkout
from harness import (
    Profiler,
    ReceiverProcess,
    cpu_seconds,
    fresh_file,
    machine_busy_seconds,
    peak_rss_mib,
    run_loadgen,
    run_queue_seconds,
    thread_count,
    versions_line,
)
from hotspots import summarize
from waha_link import LinkedSession, linked_session, message_template, start_fake_waha, waha_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.server import ServerProcess, connected_connection  # noqa: E402
from waha.fake import FakeWaha  # noqa: E402
from wahooks.engines.envelope import envelope  # noqa: E402

TARGET_RATE = 3000.0
TARGET_P99_MS = 20.0
TARGET_HUNG_RATIO = 2.0
ORIGINAL_RATE = "200-250"
CONCURRENCY = 64
LOG_PATTERN = re.compile(r"\b(ERROR|CRITICAL|Traceback|WARNING)\b")


@dataclass(frozen=True)
class Case:
    name: str
    events: int
    rate: float | None  # None: as fast as the server answers (closed loop)
    healthy: int = 1  # webhooks on the answering receiver: what is measured
    hung: int = 0  # webhooks on the receiver that never answers
    throttled: int = 0  # webhooks on another origin that answer 429 with Retry-After: 1
    hung_paths: int = 0  # webhooks on the healthy receiver's origin whose path never answers
    hung_account_origins: int = 0  # another account's webhooks, one per origin that never answers
    waha: bool = False  # events through WAHA's signed webhook, not the sandbox's inbound route

    def describe(self) -> str:
        route = "signed WAHA" if self.waha else "sandbox inbound"
        pace = f"at {self.rate:g} events/s" if self.rate else "as fast as possible"
        hooks = f"{self.healthy} webhook{'s' if self.healthy > 1 else ''}"
        if self.hung:
            hooks += f" + {self.hung} hung"
        if self.throttled:
            hooks += f" + {self.throttled} answering 429 (Retry-After: 1) on another origin"
        if self.hung_paths:
            hooks += f" + {self.hung_paths} hung on the same origin"
        if self.hung_account_origins:
            hooks += f" + another account hanging {self.hung_account_origins} origins"
        return f"{self.events} {route} events {pace}, {hooks}"


@dataclass
class Result:
    case: Case
    load: dict[str, Any]
    stats: dict[str, Any]
    accepted: int
    lost: int
    unexpected: int
    server_cpu: float
    receiver_cpu: float
    wall: float
    peak_rss: float
    log_counts: dict[str, int]
    log_samples: list[str]
    hung_requests: int
    machine_cpu: float
    run_queue: float
    threads: int
    profile: list[str]
    side_requests: int = 0  # answered 429 (throttled), or left hanging (hung-path, hung-account)

    @property
    def delivered(self) -> int:
        return int(self.stats["unique"])

    @property
    def ingest_rate(self) -> float:
        return self.accepted / float(self.load["elapsed_s"])

    @property
    def e2e_seconds(self) -> float:
        last = self.stats["last_ms"] or self.load["first_ms"]
        return max((float(last) - float(self.load["first_ms"])) / 1000, 1e-9)

    @property
    def e2e_rate(self) -> float:
        return self.delivered / self.e2e_seconds

    @property
    def cpu_per_1k(self) -> float:
        return self.server_cpu / max(self.delivered, 1) * 1000

    def latency(self, key: str) -> float | None:
        value = self.stats["latency_ms"][key]
        return None if value is None else float(value)


def cases_from(args: argparse.Namespace) -> list[Case]:
    known = {
        "burst": [Case("burst", args.events, None)],
        "steady": [Case("steady", int(args.steady_rate * args.steady_seconds), args.steady_rate)],
        "waha": [Case("waha-burst", args.events, None, waha=True),
                 Case("waha-steady", int(args.steady_rate * args.steady_seconds), args.steady_rate,
                      waha=True)],
        "fanout": [Case("fanout", max(args.events // 10, 1), None, healthy=10)],
        "hung": [
            Case("hung-alone", int(args.hung_rate * args.hung_seconds), args.hung_rate),
            Case("hung-with", int(args.hung_rate * args.hung_seconds), args.hung_rate, hung=1),
        ],
    }
    paced = (int(args.hung_rate * args.hung_seconds), args.hung_rate)
    known["waha-burst"], known["waha-steady"] = ([case] for case in known["waha"])
    known["throttled"] = [Case("throttled", *paced, throttled=1)]
    known["hung-path"] = [Case("hung-path", *paced, hung_paths=1)]
    known["hung-account"] = [Case("hung-account", *paced, hung_account_origins=10)]
    known["fair"] = [Case("hung-alone", *paced)] + [
        case for name in ("throttled", "hung-path", "hung-account") for case in known[name]
    ]
    chosen = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; choose from {sorted(known)}")
    return [case for name in chosen for case in known[name]]


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The server's settings: the bench's defaults, then any WAHOOKS_* the caller exported."""
    env = {"WAHOOKS_REQUEST_TIMEOUT": str(args.request_timeout), "WAHOOKS_LOG_LEVEL": "info"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("WAHOOKS_")})
    return env


# one case -----------------------------------------------------------------------------------------


def add_webhook(
    client: Any, connection_id: str, receiver: ReceiverProcess, path: str, origin: int = 0
) -> None:
    created = client.post(
        f"/connections/{connection_id}/webhooks",
        json={"url": receiver.url(path, origin), "events": ["message"]},
    )
    if created.status_code != 201:
        raise RuntimeError(f"webhook not created: {created.status_code} {created.text}")
    receiver.track(path, created.json()["signingSecret"])


def drain(receiver: ReceiverProcess, prefix: str, expected: int, timeout: float) -> None:
    """Wait until the receiver has every expected delivery, or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if receiver.count(prefix)["unique"] >= expected:
            return
        time.sleep(0.05)


def hang_another_account(
    server: ServerProcess, case: Case, hung: ReceiverProcess, events: int
) -> None:
    """A second account whose webhooks on `case.hung_account_origins` origins never answer, with
    `events` events (each a delivery per origin) sent before the measured load, and wait until
    its deliveries hold every slot they may."""
    made = subprocess.run(
        [sys.executable, "-m", "wahooks.cli", "user", "create", "--name", f"hanging-{case.name}",
         "--database", str(server.database)],
        env=server.env, capture_output=True, text=True, check=True,
    )
    with server.client(made.stdout.strip()) as client:
        connection_id = connected_connection(client)["id"]
        for n in range(case.hung_account_origins):
            add_webhook(client, connection_id, hung, f"/hung/{case.name}/{n}", origin=n)
        before = hung.stats("/hung/")["hung"]
        for n in range(events):
            client.post(f"/connections/{connection_id}/sandbox/inbound",
                        json={"from": "14155550123@c.us", "body": f"hang-{n}"})
    deadline = time.monotonic() + 20
    held = 0
    while time.monotonic() < deadline:
        now_held = hung.stats("/hung/")["hung"] - before
        if now_held and now_held == held:
            break  # no more go out: the account is at its share (or at the global cap)
        held = now_held
        time.sleep(0.5)
    print(f"  (another account holds {held} hanging requests on"
          f" {case.hung_account_origins} origins)")


def load_job(case: Case, server: ServerProcess, connection_id: str,
             linked: LinkedSession | None, concurrency: int) -> dict[str, Any]:
    """What the load generator sends for this case (see bench/loadgen.py)."""
    job: dict[str, Any] = {"mode": "ingest", "base_url": server.base_url, "token": server.token,
                           "connection_id": connection_id, "case": case.name,
                           "count": case.events, "concurrency": concurrency, "rate": case.rate}
    if linked is not None:
        job.update(mode="waha", template=message_template(),
                   sessions=[{"session": linked.session, "key": linked.hmac_key}])
    return job


def run_case(
    case: Case, args: argparse.Namespace, workdir: Path,
    healthy: ReceiverProcess, hung: ReceiverProcess | None, side: ReceiverProcess | None = None,
    *, fake_waha: FakeWaha | None = None, checkout: Checkout = THIS,
) -> Result:
    env = server_env(args)
    if case.waha:
        assert fake_waha is not None
        env.update(waha_env(fake_waha))
    database = fresh_file(workdir, f"{checkout.label}-{case.name}", ".db")
    server = checkout.server(database, env=env).start()
    profiler = None
    try:
        client = server.client()
        linked = linked_session(client, fake_waha) if case.waha and fake_waha else None
        connection_id = linked.connection_id if linked else connected_connection(client)["id"]
        prefix = f"/h/{checkout.label}-{case.name}/"
        for n in range(case.healthy):
            add_webhook(client, connection_id, healthy, f"{prefix}{n}")
        for n in range(case.hung):
            assert hung is not None
            add_webhook(client, connection_id, hung, f"/hung/{case.name}/{n}")
        for n in range(case.throttled):
            assert side is not None
            add_webhook(client, connection_id, side, f"/throttle/{case.name}/{n}")
        for n in range(case.hung_paths):
            add_webhook(client, connection_id, healthy, f"/hang/{case.name}/{n}")
        client.close()
        if case.hung_account_origins:
            assert hung is not None
            hang_another_account(server, case, hung, args.hung_account_events)
        side_before = side_count(case, healthy, side)
        assert server.process is not None
        pid = server.process.pid
        if any(case.name.startswith(name) for name in args.profile.split(",") if name):
            profiler = Profiler(pid, workdir / f"profile-{checkout.label}-{case.name}.txt",
                                blocking=args.profile_blocking, gil=args.profile_gil)
        hung_before = hung.stats("/hung/")["hung"] if hung else 0
        server_cpu, receiver_cpu = cpu_seconds(pid), cpu_seconds(healthy.pid)
        machine_cpu, run_queue = machine_busy_seconds(), run_queue_seconds(pid)
        started = time.monotonic()
        load = run_loadgen(load_job(case, server, connection_id, linked, args.concurrency),
                           timeout=case.events / (case.rate or 200) + 120)
        accepted = load["statuses"].get("201", 0)
        drain(healthy, prefix, accepted * case.healthy, args.drain_timeout)
        wall = time.monotonic() - started
        server_cpu = cpu_seconds(pid) - server_cpu
        receiver_cpu = cpu_seconds(healthy.pid) - receiver_cpu
        machine_cpu = machine_busy_seconds() - machine_cpu
        run_queue = run_queue_seconds(pid) - run_queue
        if profiler is not None:
            profiler.stop()
        rss, threads = peak_rss_mib(pid), thread_count(pid)
        hung_requests = hung.stats("/hung/")["hung"] - hung_before if hung else 0
        side_requests = side_count(case, healthy, side) - side_before
    finally:
        if profiler is not None:
            profiler.stop()
        server.stop()
        log = "".join(server.output)
        database.with_suffix(".server.log").write_text(log)
    stats = healthy.stats(prefix)
    expected = set(range(case.events)) - set(load["failed"])
    lost = unexpected = 0
    for seqs in stats["seqs"].values():
        got = set(seqs)
        lost += len(expected - got)
        unexpected += len(got - expected)
    flagged = [line for line in log.splitlines() if LOG_PATTERN.search(line)]
    counts = {kind: sum(kind in line for line in flagged)
              for kind in ("ERROR", "Traceback", "WARNING")}
    profile = []
    if profiler is not None and profiler.output.exists():
        profile = [f"py-spy profile of the server, load start to drained ({profiler.output}):"]
        profile += summarize(profiler.output, seconds=profiler.duration, rate=Profiler.RATE,
                             us_per_event=server_cpu / max(int(stats["unique"]), 1) * 1e6)
    return Result(case, load, stats, accepted, lost, unexpected, server_cpu, receiver_cpu, wall,
                  rss, counts, flagged[:8], hung_requests, machine_cpu, run_queue, threads, profile,
                  side_requests)


def side_count(case: Case, healthy: ReceiverProcess, side: ReceiverProcess | None) -> int:
    if case.throttled and side is not None:
        return int(side.stats("/throttle/")["throttled"])
    if case.hung_paths:
        return int(healthy.stats("/hang/")["hung"])
    return 0


# the ceiling ----------------------------------------------------------------------------------------


def event_template() -> dict[str, Any]:
    """An event shaped and sized like the sandbox's `message`, for the raw client to send."""
    payload = {
        "id": "false_14155550123@c.us_3EB0" + "A" * 16, "timestamp": int(time.time()),
        "from": "14155550123@c.us", "fromMe": False, "source": "app", "body": "", "to": None,
        "participant": None, "hasMedia": False, "media": None, "ack": 2, "ackName": "DEVICE",
        "location": None, "vCards": [], "replyTo": None,
        "_data": {"key": {"remoteJid": "14155550123@s.whatsapp.net", "fromMe": False,
                          "id": "3EB0" + "A" * 16},
                  "messageTimestamp": int(time.time()), "pushName": "", "broadcast": False,
                  "message": {"conversation": ""}, "status": 3},
    }
    me = {"id": "15550000000@c.us", "pushName": "Sandbox account"}
    return envelope("u_0123456789ab_s_0123456789ab", "message", payload, me=me,
                    version="wahooks-sandbox/bench", tier="SANDBOX")


def ceiling(receiver: ReceiverProcess, count: int) -> list[dict[str, Any]]:
    runs = []
    for connections, depth in ((CONCURRENCY, 1), (8, 16)):
        path = f"/h/ceiling-{connections}x{depth}/0"
        secret = secrets.token_hex(32)
        receiver.track(path, secret)
        before = cpu_seconds(receiver.pid)
        load = run_loadgen(
            {"mode": "raw", "port": receiver.port, "path": path, "secret": secret,
             "count": count, "connections": connections, "depth": depth,
             "template": event_template()},
            timeout=120,
        )
        stats = receiver.stats(path)
        runs.append({"connections": connections, "depth": depth, "load": load, "stats": stats,
                     "receiver_cpu": cpu_seconds(receiver.pid) - before})
    return runs


# printing -------------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.1f}"


def print_ceiling(runs: list[dict[str, Any]]) -> None:
    print("\n== ceiling: the receiver fed by a raw asyncio client, no wahooks in between")
    for run in runs:
        load, stats = run["load"], run["stats"]
        rate = load["answered"] / load["elapsed_s"]
        run["rate"] = rate
        print(f"  {run['connections']:3d} connections x {run['depth']:2d} in flight:"
              f" {load['answered']}/{load['sent']} answered in {load['elapsed_s']:.2f} s"
              f" = {rate:8.0f} requests/s; bad signatures {stats['bad_signatures']},"
              f" duplicates {stats['duplicates']}; CPU client {load['cpu_s']:.1f} s,"
              f" receiver {run['receiver_cpu']:.1f} s"
              f" ({run['receiver_cpu'] / max(load['answered'], 1) * 1e6:.0f} us/request)")


def print_case(result: Result, concurrency: int) -> None:
    case, load, stats = result.case, result.load, result.stats
    request = load["request_ms"]
    errors = {k: v for k, v in load["statuses"].items() if k != "201"}
    lag = f"; schedule lag max {load['max_lag_ms']:.0f} ms" if case.rate else ""
    print(f"\n== {case.name}: {case.describe()} ({concurrency} connections)")
    print(f"  ingest      {result.accepted}/{load['sent']} accepted (201) in"
          f" {load['elapsed_s']:.2f} s = {result.ingest_rate:.0f} events/s; request p50"
          f" {request['p50']:.1f} ms p99 {request['p99']:.1f} ms max {request['max']:.0f} ms"
          f"{lag}{'; errors ' + str(errors) if errors else ''}")
    print(f"  delivered   {result.delivered} unique in {result.e2e_seconds:.2f} s from the first"
          f" send = {result.e2e_rate:.0f} deliveries/s")
    print(f"  latency     event created -> received: p50 {ms(result.latency('p50'))} ms"
          f"  p99 {ms(result.latency('p99'))} ms  max {ms(result.latency('max'))} ms")
    print(f"  integrity   lost {result.lost}, duplicated {stats['duplicates']}"
          f" ({stats['duplicate_delivery_ids']} repeated delivery ids), bad signatures"
          f" {stats['bad_signatures']}, unparsable {stats['unparsable']},"
          f" unexpected {result.unexpected}")
    if case.hung:
        print(f"  hung        {result.hung_requests} requests reached the endpoint that never"
              " answers")
    if case.throttled:
        print(f"  throttled   {result.side_requests} requests answered 429 (Retry-After: 1)")
    if case.hung_paths:
        print(f"  hung path   {result.side_requests} requests reached the path that never answers")
    print(f"  server      CPU {result.server_cpu:.1f} s = {result.cpu_per_1k:.2f} s per 1,000"
          f" deliveries ({result.server_cpu / result.wall:.2f} cores over {result.wall:.1f} s);"
          f" peak RSS {result.peak_rss:.0f} MiB; {result.threads} threads, which waited"
          f" {result.run_queue:.1f} s in all for a CPU")
    ours = result.server_cpu + result.receiver_cpu + load["cpu_s"]
    print(f"  others      receiver CPU {result.receiver_cpu:.1f} s, load generator CPU"
          f" {load['cpu_s']:.1f} s; whole machine {result.machine_cpu / result.wall:.2f} of"
          f" {os.cpu_count()} cores busy, {max(result.machine_cpu - ours, 0) / result.wall:.2f}"
          " of them outside this benchmark")
    counts = ", ".join(f"{n} {kind}" for kind, n in result.log_counts.items())
    print(f"  server log  {counts}")
    for line in result.log_samples:
        print(f"    | {line[:160]}")
    for line in result.profile:
        print(f"  {line}")


def print_summary(results: list[Result], runs: list[dict[str, Any]]) -> None:
    print("\n== summary")
    print(f"  {'case':<13}{'events':>7}{'ingest/s':>10}{'deliv':>8}{'deliv/s':>9}{'p50 ms':>8}"
          f"{'p99 ms':>8}{'max ms':>8}{'cpu s/1k':>9}{'RSS MiB':>8}{'lost':>6}{'dup':>5}"
          f"{'badsig':>7}")
    for r in results:
        print(f"  {r.case.name:<13}{r.case.events:>7}{r.ingest_rate:>10.0f}{r.delivered:>8}"
              f"{r.e2e_rate:>9.0f}{ms(r.latency('p50')):>8}{ms(r.latency('p99')):>8}"
              f"{ms(r.latency('max')):>8}{r.cpu_per_1k:>9.2f}{r.peak_rss:>8.0f}{r.lost:>6}"
              f"{r.stats['duplicates']:>5}{r.stats['bad_signatures']:>7}")
    for run in runs:
        print(f"  ceiling: raw client -> receiver, {run['connections']} x {run['depth']}:"
              f" {run.get('rate', 0):.0f} requests/s")
    ceiling_rate = runs[0]["rate"] if runs else None
    print_targets({r.case.name: r for r in results}, ceiling_rate)


def print_targets(by_name: dict[str, Result], ceiling_rate: float | None) -> None:
    print(f"\n== targets (the original WAHooks did {ORIGINAL_RATE} deliveries/s)")
    for name in ("burst", "waha-burst", "fanout"):
        if name in by_name:
            rate = by_name[name].e2e_rate
            versus = (f" (receiver ceiling {ceiling_rate:,.0f}/s: wahooks reaches"
                      f" {100 * rate / ceiling_rate:.0f}% of it)" if ceiling_rate else "")
            print(f"  >= {TARGET_RATE:,.0f} deliveries/s end to end ({name}): {rate:,.0f}{versus}"
                  f" -> {'met' if rate >= TARGET_RATE else 'NOT met'}")
    for name in ("steady", "waha-steady"):
        if name in by_name:
            p99 = by_name[name].latency("p99")
            verdict = "met" if p99 is not None and p99 <= TARGET_P99_MS else "NOT met"
            print(f"  p99 <= {TARGET_P99_MS:g} ms at {by_name[name].case.rate:g} events/s"
                  f" ({name}): {ms(p99).strip()} ms -> {verdict}")
    alone, beside = by_name.get("hung-alone"), by_name.get("hung-with")
    if alone and beside:
        a, b = alone.latency("p99"), beside.latency("p99")
        ratio = b / a if a and b is not None else float("nan")
        verdict = "met" if ratio <= TARGET_HUNG_RATIO and beside.lost == 0 else "NOT met"
        print(f"  hung endpoint leaves the healthy p99 within {TARGET_HUNG_RATIO:g}x: alone"
              f" {ms(a).strip()} ms, beside it {ms(b).strip()} ms (x{ratio:.2f}, lost"
              f" {beside.lost}) -> {verdict}")
    beside_what = {
        "throttled": "an endpoint answering 429 with Retry-After: 1",
        "hung-path": "a hanging webhook on the same origin",
        "hung-account": "another account hanging 10 origins",
    }
    for name, what in beside_what.items():
        other = by_name.get(name)
        if alone and other:
            a, b = alone.latency("p99"), other.latency("p99")
            ratio = b / a if a and b is not None else float("nan")
            verdict = "met" if ratio <= TARGET_HUNG_RATIO and other.lost == 0 else "NOT met"
            print(f"  healthy p99 beside {what} within {TARGET_HUNG_RATIO:g}x: alone"
                  f" {ms(a).strip()} ms, beside {ms(b).strip()} ms (x{ratio:.2f}, lost"
                  f" {other.lost}) -> {verdict}")


# main -----------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="burst,steady,fanout,hung")
    parser.add_argument("--events", type=int, default=20_000,
                        help="burst events; fanout sends events/10 to 10 webhooks")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--steady-rate", type=float, default=500.0)
    parser.add_argument("--steady-seconds", type=float, default=30.0)
    parser.add_argument("--hung-rate", type=float, default=300.0)
    parser.add_argument("--hung-seconds", type=float, default=20.0)
    parser.add_argument("--hung-account-events", type=int, default=200,
                        help="events sent first to the hanging account (hung-account case)")
    parser.add_argument("--request-timeout", type=float, default=15.0)
    parser.add_argument("--drain-timeout", type=float, default=20.0,
                        help="seconds to wait for outstanding deliveries after the load")
    parser.add_argument("--ceiling-requests", type=int, default=20_000)
    parser.add_argument("--profile", metavar="CASES", default="",
                        help="py-spy the server during these cases (comma separated)")
    parser.add_argument("--profile-gil", action="store_true",
                        help="sample only the thread holding the GIL (the one core Python code"
                             " runs on): where the time that caps the rate goes")
    parser.add_argument("--profile-blocking", action="store_true",
                        help="py-spy pauses the server for each sample: whole stacks (so inclusive"
                             " shares are right), a slower server")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, profile)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cases = cases_from(args)
    workdir = Path(tempfile.mkdtemp(prefix="wahooks-bench-"))
    print(f"wahooks delivery benchmark: {os.cpu_count()} cores, load average"
          f" {Path('/proc/loadavg').read_text().split()[0]}, Python {platform.python_version()},"
          f" workdir {workdir}")
    print(f"server settings: {server_env(args)}")
    print(versions_line())
    healthy = ReceiverProcess().start()
    origins = max([c.hung_account_origins for c in cases] + [1])
    needs_hung = any(c.hung or c.hung_account_origins for c in cases)
    hung = ReceiverProcess(hang=True, ports=origins).start() if needs_hung else None
    side = ReceiverProcess().start() if any(c.throttled for c in cases) else None
    fake_waha = start_fake_waha() if any(c.waha for c in cases) else None
    results: list[Result] = []
    try:
        runs = ceiling(healthy, args.ceiling_requests)
        print_ceiling(runs)
        for case in cases:
            results.append(run_case(case, args, workdir, healthy, hung, side, fake_waha=fake_waha))
            print_case(results[-1], args.concurrency)
        print_summary(results, runs)
    finally:
        if fake_waha is not None:
            fake_waha.__exit__(None, None, None)
        healthy.stop()
        for other in (hung, side):
            if other is not None:
                other.stop()
        if args.keep:
            print(f"\nkept {workdir}: server logs, databases, profiles")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
