"""A fast webhook receiver for the delivery benchmark, run as its own process.

Raw asyncio protocol on uvloop, HTTP/1.1 keep-alive and pipelining, no framework: it should cost
far less per request than the server it measures. Every webhook path is registered with its
signing secret first (POST /_control/track); each delivery to it is then verified
(X-WAHooks-Signature) and recorded: the sequence number found in the message text
("bench-<case>-<n>"), the receive time, the event's `timestamp` (ms) and the delivery id.

    python bench/receiver.py [--hang] [--ports N]

prints "PORT <n> [<n2> ...]" once it listens on 127.0.0.1 (`--ports N`: N ports, N origins to
wahooks, one recorder). `--hang` makes it a dead endpoint: it accepts connections and reads requests
but never answers one (control paths still answer). Whatever the mode, a path under /hang/ never
gets an answer (a hanging webhook beside healthy ones on one origin) and a path under /throttle/ is
answered 429 with `Retry-After: 1` (an overloaded webhook); both are counted, not recorded.

A receiver can also be taken down and brought back while wahooks keeps its URL (the backlog case):
while down it reads requests and answers none, holding them; brought back, it answers and records
the held requests whose connection is still open, then every later one.

Control API (JSON):
    POST /_control/track {"path": "/h/burst/0", "secret": "..."}
    POST /_control/down {"down": true}                  -> {"down", "released"}
    GET  /_control/count?prefix=/h/burst/      -> {"received", "unique"}
    GET  /_control/stats?prefix=/h/burst/      -> counts, latency percentiles, seqs per path
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson
import uvloop

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
THROTTLED = (
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 4\r\n\r\nslow"
)
CONTROL = "/_control/"


@dataclass
class Track:
    """What one webhook path received."""

    secret: bytes
    seqs: list[int] = field(default_factory=list)
    received_ms: list[float] = field(default_factory=list)
    event_ms: list[int] = field(default_factory=list)
    delivery_ids: set[bytes] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)
    duplicate_ids: int = 0
    bad_signatures: int = 0
    unparsable: int = 0


class Recorder:
    def __init__(self) -> None:
        self.tracks: dict[str, Track] = {}
        self.untracked = 0
        self.hung = 0
        self.throttled = 0
        self.down = False
        self.holding: set[HttpConnection] = set()

    def deliver(self, path: str, headers: dict[bytes, bytes], body: bytes) -> None:
        now = time.time() * 1000
        track = self.tracks.get(path)
        if track is None:
            self.untracked += 1
            return
        if not _signed(track.secret, headers, body):
            track.bad_signatures += 1
            return
        try:
            event = orjson.loads(body)
            seq = int(event["payload"]["body"].rsplit("-", 1)[1])
            event_ms = int(event["timestamp"])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            track.unparsable += 1
            return
        delivery_id = headers.get(b"x-wahooks-delivery", b"")
        if delivery_id in track.delivery_ids:
            track.duplicate_ids += 1
        track.delivery_ids.add(delivery_id)
        track.seqs.append(seq)
        track.received_ms.append(now)
        track.event_ms.append(event_ms)
        track.seen.add(seq)

    def control(self, method: bytes, target: str, body: bytes) -> Any:
        parts = urlsplit(target)
        action = parts.path[len(CONTROL):]
        prefix = parse_qs(parts.query).get("prefix", [""])[0]
        if method == b"POST" and action == "track":
            spec = orjson.loads(body)
            self.tracks[spec["path"]] = Track(spec["secret"].encode())
            return {"tracked": spec["path"]}
        if method == b"POST" and action == "down":
            self.down = bool(orjson.loads(body)["down"])
            released = 0
            if not self.down:
                for connection in list(self.holding):
                    released += connection.release()
                self.holding.clear()
            return {"down": self.down, "released": released}
        if action == "count":
            chosen = self._matching(prefix)
            return {"received": sum(len(t.seqs) for t in chosen),
                    "unique": sum(len(t.seen) for t in chosen)}
        if action == "stats":
            return self._stats(prefix)
        return None

    def _matching(self, prefix: str) -> list[Track]:
        return [track for path, track in self.tracks.items() if path.startswith(prefix)]

    def _stats(self, prefix: str) -> dict[str, Any]:
        paths = {path: t for path, t in self.tracks.items() if path.startswith(prefix)}
        tracks = list(paths.values())
        received = [ms for t in tracks for ms in t.received_ms]
        latencies = sorted(
            r - e for t in tracks for r, e in zip(t.received_ms, t.event_ms, strict=True)
        )
        unique = sum(len(t.seen) for t in tracks)
        return {
            "received": len(received),
            "unique": unique,
            "duplicates": len(received) - unique,
            "duplicate_delivery_ids": sum(t.duplicate_ids for t in tracks),
            "bad_signatures": sum(t.bad_signatures for t in tracks),
            "unparsable": sum(t.unparsable for t in tracks),
            "untracked": self.untracked,
            "hung": self.hung,
            "throttled": self.throttled,
            "first_ms": min(received, default=None),
            "last_ms": max(received, default=None),
            "latency_ms": _percentiles(latencies),
            "seqs": {path: sorted(t.seen) for path, t in paths.items()},
        }


def _signed(secret: bytes, headers: dict[bytes, bytes], body: bytes) -> bool:
    given = headers.get(b"x-wahooks-signature")
    timestamp = headers.get(b"x-wahooks-timestamp")
    if given is None or timestamp is None:
        return False
    digest = hmac.digest(secret, timestamp + b"." + body, hashlib.sha256)
    return hmac.compare_digest(b"sha256=" + digest.hex().encode(), given)


def _percentiles(ordered: list[float]) -> dict[str, float | None]:
    if not ordered:
        return {"p50": None, "p99": None, "max": None, "mean": None}

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1],
            "mean": sum(ordered) / len(ordered)}


class HttpConnection(asyncio.Protocol):
    """One client connection: parse pipelined requests, answer each in order."""

    def __init__(self, recorder: Recorder, hang: bool) -> None:
        self._recorder = recorder
        self._hang = hang
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._silent = False  # a hung request blocks every later answer on this connection
        self._held: list[tuple[str, dict[bytes, bytes], bytes]] = []  # while the receiver is down

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None  # held requests die with their connection: wahooks gave up
        self._held.clear()
        self._recorder.holding.discard(self)

    def release(self) -> int:
        """The receiver is back: answer the requests held on this connection, in order."""
        held, self._held = self._held, []
        for path, headers, body in held:
            if self._transport is not None:
                self._respond(path, headers, body)
        return len(held)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self._buffer[:end]).split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            self._answer(lines[0], headers, body)

    def _answer(self, request_line: bytes, headers: dict[bytes, bytes], body: bytes) -> None:
        assert self._transport is not None
        method, target, _ = request_line.split(b" ", 2)
        path = target.decode("latin-1")
        if path.startswith(CONTROL):
            result = self._recorder.control(method, path, body)
            payload = orjson.dumps(result)
            status = b"200 OK" if result is not None else b"404 Not Found"
            self._transport.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(payload)).encode() + b"\r\n\r\n" + payload
            )
            return
        if self._recorder.down or self._held:
            self._held.append((path, headers, body))
            self._recorder.holding.add(self)
            return
        self._respond(path, headers, body)

    def _respond(self, path: str, headers: dict[bytes, bytes], body: bytes) -> None:
        assert self._transport is not None
        if self._hang or self._silent or path.startswith("/hang/"):
            self._recorder.hung += 1
            self._silent = True
            return
        if path.startswith("/throttle/"):
            self._recorder.throttled += 1
            self._transport.write(THROTTLED)
            return
        self._recorder.deliver(path, headers, body)
        self._transport.write(OK)
        if headers.get(b"connection", b"").lower() == b"close":
            self._transport.close()


async def serve(hang: bool, ports: int) -> None:
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    servers = [
        await loop.create_server(
            lambda: HttpConnection(recorder, hang), "127.0.0.1", 0, backlog=4096
        )
        for _ in range(ports)
    ]
    print("PORT " + " ".join(str(s.sockets[0].getsockname()[1]) for s in servers), flush=True)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hang", action="store_true", help="accept requests, never answer")
    parser.add_argument("--ports", type=int, default=1, help="listen on this many ports")
    args = parser.parse_args()
    uvloop.run(serve(args.hang, args.ports))
    sys.exit(0)


if __name__ == "__main__":
    main()
