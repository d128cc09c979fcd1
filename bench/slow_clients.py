"""Health-check latency while many slow clients hold connections to the server (issue 11, item 2).

    .venv/bin/python bench/slow_clients.py [--counts 200,6000,20000] [--checks 300] [--env K=V ...]

For each count a fresh `wahooks serve` (fresh SQLite file) faces that many connections which each
send a request line and then one header byte every --trickle seconds, never finishing their
headers; when the server closes one, it reconnects after --reconnect seconds, as an attacker
would. Meanwhile this script sends --checks health checks, one every --interval seconds, each on
a new connection (as a load balancer does), and prints their p50/p99/max and how many failed.

The slow clients live in worker processes of at most 9,000 connections each, so that neither
they nor this script run out of file descriptors; the script first raises its soft
RLIMIT_NOFILE to the hard limit (the workers and the server inherit it) and prints both. Figures
on a shared 2-core machine are noisy: compare runs, not single numbers. It never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.server import ServerProcess  # noqa: E402

PER_WORKER = 9000


def raise_fd_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ---------------------------------------------------------------- slow-client worker process


async def _slow_client(port: int, index: int, trickle: float, reconnect: float,
                       stats: dict[str, int], opened: asyncio.Event | None) -> None:
    first = True
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["refused"] += 1
            await asyncio.sleep(reconnect)
            continue
        stats["open"] += 1
        if first and opened is not None:
            opened.set()
        first = False
        try:
            writer.write(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-%d: " % index)
            await asyncio.sleep(random.uniform(0, trickle))
            while not reader.at_eof():
                writer.write(b"a")
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.read(4096), trickle)
                except TimeoutError:
                    continue
        except OSError:
            pass
        finally:
            stats["open"] -= 1
            stats["closed_by_server"] += 1
            writer.close()
        await asyncio.sleep(reconnect * random.uniform(0.5, 1.5))


async def _worker(port: int, count: int, trickle: float, reconnect: float) -> None:
    stats = {"open": 0, "closed_by_server": 0, "refused": 0}
    tasks = []
    for start in range(0, count, 200):  # open in batches: the listen backlog is finite
        batch = [asyncio.Event() for _ in range(start, min(count, start + 200))]
        for offset, event in enumerate(batch):
            tasks.append(asyncio.create_task(
                _slow_client(port, start + offset, trickle, reconnect, stats, event)))
        await asyncio.wait([asyncio.create_task(e.wait()) for e in batch], timeout=10)
    print(f"ready {stats['open']}", flush=True)
    while await asyncio.to_thread(sys.stdin.readline):  # a line: report; end of input: stop
        print(f"stats {stats['open']} {stats['closed_by_server']} {stats['refused']}", flush=True)
    del tasks


def run_worker(args: argparse.Namespace) -> None:
    import uvloop

    uvloop.run(_worker(args.port, args.count, args.trickle, args.reconnect))


# ---------------------------------------------------------------- the measurement


def start_workers(port: int, count: int, args: argparse.Namespace) -> list[subprocess.Popen[str]]:
    workers = []
    left = count
    while left > 0:
        share = min(PER_WORKER, left)
        left -= share
        workers.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", "--port", str(port), "--count", str(share),
             "--trickle", str(args.trickle), "--reconnect", str(args.reconnect)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for worker in workers:
        assert worker.stdout is not None
        print(f"    worker {worker.pid}: {worker.stdout.readline().strip()}", flush=True)
    return workers


def worker_stats(workers: list[subprocess.Popen[str]]) -> tuple[int, int, int]:
    totals = [0, 0, 0]
    for worker in workers:
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write("report\n")
        worker.stdin.flush()
        fields = worker.stdout.readline().split()[1:]
        totals = [total + int(value) for total, value in zip(totals, fields, strict=True)]
    return totals[0], totals[1], totals[2]


def health_checks(port: int, checks: int, interval: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    for _ in range(checks):
        started = time.perf_counter()
        if health_check(port) == 200:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            failures += 1
        time.sleep(interval)
    return latencies, failures


def health_check(port: int) -> int:
    """One GET /api/health on a new connection, as a load balancer sends it; 0 when it failed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    except OSError:
        return 0
    status = answer.split(b" ", 2)[1:2]
    return int(status[0]) if status and status[0].isdigit() else 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def measure(count: int, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(item.split("=", 1) for item in args.env)
        server = ServerProcess(Path(tmp) / "wahooks.db", env=env).start()
        assert server.process is not None
        try:
            workers = start_workers(server.port, count, args) if count else []
            fds_before = open_fds(server.process.pid)
            latencies, failures = health_checks(server.port, args.checks, args.interval)
            open_now, closed, refused = worker_stats(workers) if workers else (0, 0, 0)
            report(count, latencies, failures, fds_before, open_now, closed, refused)
            for worker in workers:
                worker.kill()
                worker.wait()
        finally:
            server.stop()


def report(count: int, latencies: list[float], failures: int, fds: int,
           open_now: int, closed: int, refused: int) -> None:
    if latencies:
        ordered = sorted(latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        slow = sum(1 for latency in ordered if latency >= 1000)  # 1 s: a SYN was retransmitted
        figures = (f"p50 {statistics.median(ordered):7.1f} ms  p99 {p99:7.1f} ms"
                   f"  max {ordered[-1]:7.1f} ms  >=1 s {slow}")
    else:
        figures = "no successful check"
    print(f"{count:>6} slow  {figures}  failed {failures}/{failures + len(latencies)}"
          f"  | server fds {fds}, slow conns open {open_now}, closed by server {closed},"
          f" connect errors {refused}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="200,6000,20000")
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between checks")
    parser.add_argument("--trickle", type=float, default=5.0, help="seconds between header bytes")
    parser.add_argument("--reconnect", type=float, default=1.0, help="seconds before reconnecting")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return
    soft, hard = raise_fd_limit()
    print(f"RLIMIT_NOFILE soft {soft}, hard {hard} (this script, its workers and the server);"
          f" {os.cpu_count()} CPUs", flush=True)
    for count in [0, *(int(part) for part in args.counts.split(","))]:
        measure(count, args)


if __name__ == "__main__":
    main()
