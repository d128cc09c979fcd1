"""Load generators for the delivery benchmark, run as their own process.

Reads one JSON job on stdin, prints one JSON result on stdout:

* {"mode": "ingest", ...}: POST /api/connections/{id}/sandbox/inbound with an aiohttp client
  (from one contact, or from `chats` contacts in turn)
  (keep-alive, `concurrency` requests in flight). Without `rate`, closed loop: as fast as the
  server answers. With `rate`, open loop: request n is started at t0 + n/rate whatever happened
  to the earlier ones (the connection pool still caps what is in flight; `max_lag_ms` tells how
  far behind the schedule the generator fell).
* {"mode": "waha", ...}: POST /api/events/waha, one WAHA `message` event per request as a WAHA
  server sends them: compact JSON from the `message` fixture with a fresh id and the send time as
  its timestamp (ms), signed with the session's key (`X-Webhook-Hmac`, hex HMAC-SHA512 of the raw
  body), no token. Paced or closed loop as above. With `connection_ids` (ingest) or `sessions`
  (waha, each {"session", "key"}), request n goes to the (n mod count)-th one.
* {"mode": "raw", ...}: signed POSTs straight to the receiver from a minimal raw-socket
  HTTP/1.1 client, `connections` keep-alive connections with `depth` requests pipelined on
  each: the receiver's and the machine's ceiling.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import aiohttp
import orjson
import uvloop


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p99": None, "max": None}
    return {q: ordered[max(0, math.ceil(f * len(ordered)) - 1)]
            for q, f in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}


# the ingest path ----------------------------------------------------------------------------------


class Ingest:
    """Sends request n and records its answer; `request(seq)` says what to send."""

    def __init__(self, job: dict[str, Any], session: aiohttp.ClientSession) -> None:
        self._session = session
        self._case = job["case"]
        self._chats = job.get("chats")  # spread over this many chats (default: one)
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.failed: list[int] = []  # seqs not acknowledged with 201: not expected at receivers
        self.last_ok_ms = 0.0

    def request(self, seq: int) -> tuple[str, bytes, dict[str, str]]:
        raise NotImplementedError

    async def send(self, seq: int) -> None:
        url, body, headers = self.request(seq)
        started = time.perf_counter()
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = str(response.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            status = type(exc).__name__
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.statuses[status] += 1
        if status == "201":
            self.last_ok_ms = time.time() * 1000
        else:
            self.failed.append(seq)


class SandboxIngest(Ingest):
    """The sandbox's inbound route: a contact's text message, authenticated with the token."""

    def __init__(self, job: dict[str, Any], session: aiohttp.ClientSession) -> None:
        super().__init__(job, session)
        ids = job.get("connection_ids") or [job["connection_id"]]
        self._urls = [f"{job['base_url']}/api/connections/{cid}/sandbox/inbound" for cid in ids]
        self._headers = {"Authorization": f"Bearer {job['token']}",
                         "Content-Type": "application/json"}

    def request(self, seq: int) -> tuple[str, bytes, dict[str, str]]:
        sender = "14155550123@c.us" if not self._chats else f"1415500{seq % self._chats:04d}@c.us"
        body = orjson.dumps({"from": sender, "body": f"bench-{self._case}-{seq}"})
        return self._urls[seq % len(self._urls)], body, self._headers


class WahaIngest(Ingest):
    """WAHA's webhook: a signed `message` event per request, as WAHA posts it."""

    def __init__(self, job: dict[str, Any], session: aiohttp.ClientSession) -> None:
        super().__init__(job, session)
        self._url = f"{job['base_url']}/api/events/waha"
        self._sessions = [(s["session"], s["key"].encode()) for s in job["sessions"]]
        self._template = job["template"]
        self._run = os.urandom(6).hex()  # event ids stay new across runs on one database

    def request(self, seq: int) -> tuple[str, bytes, dict[str, str]]:
        name, key = self._sessions[seq % len(self._sessions)]
        now_ms = time.time_ns() // 1_000_000
        event = dict(self._template, id=f"evt_bench{self._run}{seq:010d}", timestamp=now_ms,
                     session=name)
        event["payload"] = dict(event["payload"], body=f"bench-{self._case}-{seq}")
        body = orjson.dumps(event)
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Request-Id": f"wh_bench{self._run}{seq:010d}",
            "X-Webhook-Timestamp": str(now_ms),
            "X-Webhook-Hmac": hmac.digest(key, body, hashlib.sha512).hex(),
            "X-Webhook-Hmac-Algorithm": "sha512",
        }
        return self._url, body, headers


async def closed_loop(ingest: Ingest, count: int, concurrency: int) -> float:
    sequence = iter(range(count))

    async def worker() -> None:
        for seq in sequence:
            await ingest.send(seq)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return 0.0


async def open_loop(ingest: Ingest, count: int, rate: float) -> float:
    """Start request n at t0 + n/rate; return the worst lateness of a start, in ms."""
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    worst = 0.0
    for seq in range(count):
        due = start + seq / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        worst = max(worst, time.perf_counter() - due)
        task = asyncio.create_task(ingest.send(seq))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return worst * 1000


async def run_ingest(job: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=job["concurrency"], limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        ingest = (WahaIngest if job["mode"] == "waha" else SandboxIngest)(job, session)
        cpu = cpu_seconds()
        first_ms = time.time() * 1000
        started = time.perf_counter()
        if job.get("rate"):
            lag = await open_loop(ingest, job["count"], job["rate"])
        else:
            lag = await closed_loop(ingest, job["count"], job["concurrency"])
        elapsed = time.perf_counter() - started
    return {
        "sent": job["count"], "statuses": dict(ingest.statuses), "failed": ingest.failed,
        "first_ms": first_ms,
        "last_ok_ms": ingest.last_ok_ms, "elapsed_s": elapsed, "max_lag_ms": lag,
        "request_ms": percentiles(ingest.latencies), "cpu_s": cpu_seconds() - cpu,
    }


# the raw ceiling ----------------------------------------------------------------------------------


class RawClient(asyncio.Protocol):
    """One keep-alive connection keeping `depth` signed POSTs outstanding."""

    def __init__(
        self, job: dict[str, Any], tickets: Iterator[int], done: asyncio.Future[None]
    ) -> None:
        self._job = job
        self._tickets = tickets
        self._done = done
        self._secret = job["secret"].encode()
        self._template = job["template"]
        self._buffer = bytearray()
        self._outstanding = 0
        self.answered = 0
        self.failed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        for _ in range(self._job["depth"]):
            self._send_next()
        self._finish_if_idle()

    def _send_next(self) -> None:
        seq = next(self._tickets, None)
        if seq is None:
            return
        event = dict(self._template, timestamp=time.time_ns() // 1_000_000)
        event["payload"] = dict(event["payload"], body=f"bench-ceiling-{seq}")
        body = orjson.dumps(event)
        stamp = str(int(time.time())).encode()
        mac = hmac.digest(self._secret, stamp + b"." + body, hashlib.sha256).hex().encode()
        self._transport.write(
            b"POST " + self._job["path"].encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nX-WAHooks-Event: message\r\n"
            b"X-WAHooks-Timestamp: " + stamp + b"\r\nX-WAHooks-Signature: sha256=" + mac
            + b"\r\nX-WAHooks-Delivery: raw-" + str(seq).encode()
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self._outstanding += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(self._buffer[:end]).lower()
            marker = head.find(b"content-length:")
            length = int(head[marker + 15 :].split(b"\r\n", 1)[0]) if marker >= 0 else 0
            if len(self._buffer) < end + 4 + length:
                break
            if head.startswith(b"http/1.1 200"):
                self.answered += 1
            else:
                self.failed += 1
            del self._buffer[: end + 4 + length]
            self._outstanding -= 1
            self._send_next()
        self._finish_if_idle()

    def _finish_if_idle(self) -> None:
        if self._outstanding == 0 and not self._done.done():
            self._done.set_result(None)
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_result(None)


async def connect(client: RawClient, port: int) -> None:
    await asyncio.get_running_loop().create_connection(lambda: client, "127.0.0.1", port)


async def run_raw(job: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tickets = iter(range(job["count"]))
    clients: list[RawClient] = []
    waits: list[asyncio.Future[None]] = []
    cpu = cpu_seconds()
    first_ms = time.time() * 1000
    started = time.perf_counter()
    for _ in range(job["connections"]):
        done: asyncio.Future[None] = loop.create_future()
        client = RawClient(job, tickets, done)
        await connect(client, job["port"])
        clients.append(client)
        waits.append(done)
    await asyncio.gather(*waits)
    elapsed = time.perf_counter() - started
    return {
        "sent": job["count"], "answered": sum(c.answered for c in clients),
        "failed": sum(c.failed for c in clients), "first_ms": first_ms, "elapsed_s": elapsed,
        "cpu_s": cpu_seconds() - cpu,
    }


def main() -> None:
    job = orjson.loads(sys.stdin.buffer.read())
    runner = run_raw if job["mode"] == "raw" else run_ingest
    result = uvloop.run(runner(job))
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")


if __name__ == "__main__":
    main()
