"""One pooled connection of the delivery client, and the deadlines of the requests in flight.

A `Connection` is an asyncio protocol carrying one request at a time: it feeds the answer's bytes
to its parser and settles the request's future when the answer is complete, malformed, cut off by
a close, or past its deadline. `Deadlines` watches those deadlines with one timer per client.
`HttpClient` (http_client.py) owns the pool and decides when a connection is reused.
"""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from wahooks.delivery.http_response import (
    ClosedBeforeAnswer,
    HttpResponse,
    ProtocolError,
    RequestTimeout,
    ResponseParser,
)


class Origin(NamedTuple):
    scheme: str
    host: str  # as connected to: IDNA-encoded name or IP literal (IPv6 without brackets)
    port: int


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL means to the client, computed once per URL string."""

    origin: Origin
    label: str  # host:port for messages
    literal: bool  # the host is an IP address: checked directly, never resolved
    prefix: str  # request line and the headers the client sets, but for Content-Length
    host_header: str  # the Host header's value in `prefix`


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, target: Target, max_body: int
    ) -> None:
        self.target = target
        self.parser = ResponseParser(max_body)
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self.timeout = 0.0  # of the request in flight, for its RequestTimeout message
        self.slot = 0  # its bucket in Deadlines
        self._waiter: asyncio.Future[HttpResponse] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def send(self, data: bytes, waiter: asyncio.Future[HttpResponse]) -> None:
        assert self.transport is not None
        self.parser.reset()
        self._waiter = waiter
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None:  # bytes nobody asked for: this connection can no longer be trusted
            self.abort()
            return
        try:
            response = self.parser.feed(data)
        except ProtocolError as exc:
            # Same class (a head too large stays one), the origin added to the message.
            self._fail(type(exc)(f"malformed response from {self.target.label}: {exc}"))
            return
        if response is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(response)

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself and connection_lost settles the request

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            try:
                waiter.set_result(self.parser.feed_eof())
            except ClosedBeforeAnswer:
                waiter.set_exception(
                    ClosedBeforeAnswer(f"connection to {self.target.label} closed before any response")
                )
            except ProtocolError as error:
                waiter.set_exception(type(error)(f"{self.target.label}: {error}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def expire(self) -> None:
        """The request's deadline passed: fail it and drop the connection."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_exception(RequestTimeout(f"no complete response within {self.timeout:g} s"))
            self.abort()

    def reusable(self) -> bool:
        return (
            self.parser.keep_alive
            and not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
            and self.transport.get_write_buffer_size() == 0  # not still sending a refused body
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def discard(self) -> None:
        """Close after a response: gracefully, unless request bytes are still unsent."""
        if self.transport is not None and self.transport.get_write_buffer_size():
            self.abort()
        else:
            self.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: ProtocolError) -> None:
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()


_EMPTIED: set[Any] = set()
"""Stands for a bucket whose requests all ended before its tick; never added to (watch replaces
it)."""


class Deadlines:
    """The deadlines of the requests in flight, in buckets of TICK seconds, with one timer.

    A timer per request costs ~3 us to arm and cancel on uvloop, about a sixth of a whole POST;
    bucketing costs a set insert and removal, and lets a timeout fire up to TICK late.
    """

    TICK = 0.01

    def __init__(self) -> None:
        self._buckets: dict[int, set[Connection]] = {}
        self._slots: list[int] = []  # heap of the buckets' numbers
        self._timer: asyncio.TimerHandle | None = None
        self._armed = 0  # the bucket the timer fires for

    def watch(self, loop: asyncio.AbstractEventLoop, conn: Connection, deadline: float) -> None:
        slot = int(deadline / self.TICK) + 1  # the first tick at or after the deadline
        conn.slot = slot
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = set()
            heapq.heappush(self._slots, slot)
            if self._timer is None or slot < self._armed:
                self._arm(loop, slot)
        elif bucket is _EMPTIED:  # its number is still in the heap
            bucket = self._buckets[slot] = set()
        bucket.add(conn)

    def unwatch(self, conn: Connection) -> None:
        bucket = self._buckets.get(conn.slot)
        if bucket is not None:
            bucket.discard(conn)
            if not bucket:
                # Freed now, not at its tick: a set keeps the size it grew to, and with a long
                # timeout (the backlog bench's hour) the empty ones held 70 MiB after 1M sent.
                self._buckets[conn.slot] = _EMPTIED

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, loop: asyncio.AbstractEventLoop, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = slot
        self._timer = loop.call_at(slot * self.TICK, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        # The armed bucket is due even if the clock reads a hair early (timer resolution).
        due = max(self._armed, int(loop.time() / self.TICK))
        slots = self._slots
        while slots and slots[0] <= due:
            for conn in self._buckets.pop(heapq.heappop(slots)):
                conn.expire()
        if slots:
            self._arm(loop, max(slots[0], due + 1))
