"""What one webhook POST costs the delivering process: aiohttp ClientSession vs HttpClient.

    .venv/bin/python bench/http_client.py [--posts N] [--concurrency 64,256] [--rounds 3]

bench/receiver.py answers in its own process (raw asyncio on uvloop, far cheaper per request
than either client). This process runs uvloop, as `wahooks serve` does, and keeps `concurrency`
POSTs in flight with each client in turn: aiohttp configured as wahooks.delivery.sender does it
(guarded connector, total timeout, no redirects, body read), and HttpClient. Each figure is
process CPU (user + system, /proc/self/stat) divided by POSTs answered, and POSTs per second of
wall time. Clients alternate within each round so both see the same noise; the table shows the
median round and the best one. It never asserts: on a shared 2-core machine compare runs, not
single numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import orjson
import uvloop
from harness import ReceiverProcess, cpu_seconds, versions_line

from wahooks.delivery.http_client import HttpClient
from wahooks.delivery.targets import TargetPolicy, make_connector
from wahooks.signing import signed_headers

POLICY = TargetPolicy(allow_private=True)  # the receiver is on 127.0.0.1
USER_AGENT = "wahooks-bench/1"
TIMEOUT = 15.0
BODY = orjson.dumps(
    {
        "id": "evt_0123456789abcdef",
        "event": "message",
        "session": "default",
        "timestamp": 1_790_000_000_000,
        "payload": {
            "id": "false_14155550123@c.us_3EB0C0A8D3F2B1A4",
            "from": "14155550123@c.us",
            "to": "14155550100@c.us",
            "body": "bench-client-" + "x" * 300,
            "hasMedia": False,
            "ack": 1,
        },
    }
)
HEADERS = [
    *signed_headers("s" * 64, "message", BODY, 1_790_000_000).items(),
    ("X-WAHooks-Delivery", "dlv_0123456789abcdef"),
    ("X-WAHooks-Attempt", "1"),
]

Post = Callable[[], Awaitable[int]]


@dataclass
class Run:
    posts: int
    failed: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.posts / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / max(self.posts - self.failed, 1) * 1e6


async def drive(post: Post, posts: int, concurrency: int) -> Run:
    remaining = iter(range(posts))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for _ in remaining:
            if await post() != 200:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm: open the connections
    remaining = iter(range(posts))
    failed = 0
    cpu, wall = cpu_seconds_self(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(posts, failed, time.perf_counter() - wall, cpu_seconds_self() - cpu)


def cpu_seconds_self() -> float:
    return cpu_seconds(os.getpid())


async def with_aiohttp(url: str, posts: int, concurrency: int) -> Run:
    session = aiohttp.ClientSession(
        connector=make_connector(POLICY, limit=concurrency, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        headers={"User-Agent": USER_AGENT},
        skip_auto_headers=("Accept-Encoding",),
        auto_decompress=False,
    )
    headers = dict(HEADERS)

    async def post() -> int:
        async with session.post(url, data=BODY, headers=headers, allow_redirects=False) as response:
            await response.read()
            return response.status

    try:
        return await drive(post, posts, concurrency)
    finally:
        await session.close()


async def with_http_client(url: str, posts: int, concurrency: int) -> Run:
    client = HttpClient(POLICY, user_agent=USER_AGENT)

    async def post() -> int:
        return (await client.post(url, BODY, HEADERS, timeout=TIMEOUT)).status

    try:
        return await drive(post, posts, concurrency)
    finally:
        await client.close()


CLIENTS = {"aiohttp": with_aiohttp, "HttpClient": with_http_client}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000, help="POSTs per client per round")
    parser.add_argument("--concurrency", default="64,256", help="in-flight POSTs, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    print(versions_line())
    receiver = ReceiverProcess().start()
    try:
        url = receiver.url("/h/bench-client")
        results: dict[tuple[str, int], list[Run]] = {}
        receiver_cpu: dict[tuple[str, int], float] = {}
        for round_ in range(args.rounds):
            for level in levels:
                for name, client in CLIENTS.items():
                    before = cpu_seconds(receiver.pid)
                    run = uvloop.run(client(url, args.posts, level))
                    spent = cpu_seconds(receiver.pid) - before
                    results.setdefault((name, level), []).append(run)
                    receiver_cpu[(name, level)] = receiver_cpu.get((name, level), 0.0) + spent
                    print(f"  round {round_ + 1} {name:>10} x{level:<4} {run.rate:>8,.0f} POST/s"
                          f" {run.cpu_us:6.1f} us CPU/POST  failed {run.failed}", flush=True)
        report(results, receiver_cpu, levels, args.posts, args.rounds)
    finally:
        receiver.stop()


def report(results: dict[tuple[str, int], list[Run]], receiver_cpu: dict[tuple[str, int], float],
           levels: list[int], posts: int, rounds: int) -> None:
    print(f"\n{posts:,} POSTs per client per round, {rounds} rounds, body {len(BODY)} bytes,"
          f" {len(HEADERS)} headers; median round (best round)")
    print(f"{'in flight':>9} | {'client':>10} | {'POST/s':>17} | {'CPU us/POST':>15} |"
          " receiver us/POST")
    for level in levels:
        for name in CLIENTS:
            runs = results[(name, level)]
            rate = statistics.median(r.rate for r in runs)
            cpu = statistics.median(r.cpu_us for r in runs)
            best_rate = max(r.rate for r in runs)
            best_cpu = min(r.cpu_us for r in runs)
            theirs = receiver_cpu[(name, level)] / (2 * posts * rounds) * 1e6  # warm-up included
            print(f"{level:>9} | {name:>10} | {rate:>8,.0f} ({best_rate:>6,.0f}) |"
                  f" {cpu:6.1f} ({best_cpu:5.1f})     | {theirs:5.1f}")
        ours = statistics.median(r.cpu_us for r in results[("HttpClient", level)])
        theirs = statistics.median(r.cpu_us for r in results[("aiohttp", level)])
        print(f"{'':>9}   HttpClient spends {ours / theirs:.0%} of aiohttp's CPU per POST")


if __name__ == "__main__":
    main()
