"""The HTTP server's own limits: request head size, time to send head and body, open connections.

uvicorn with httptools bounds none of them, and all of it happens before authentication: one
endless header line is buffered whole (httptools concatenates it), a client may send a byte now
and then forever, and enough such clients use up the process's file descriptors, after which not
even the health check is answered. `limited_protocol()` builds the class given to uvicorn's
`http=` option: its HttpToolsProtocol with these limits added, nothing else changed.

- Head size: once a request's line and headers exceed `max_header_bytes`, the answer is 431 and
  the connection closes. A head still incomplete is checked after every read, so at most one read
  (uvloop reads up to 256 KiB) beyond the limit is ever buffered.
- Time: a request's head must be complete `header_timeout` seconds after it began (for a new
  connection: after it opened), its body `body_timeout` seconds after the head; otherwise 408 (or
  a bare close when nothing was received or the answer has begun). The deadline is checked by a
  timer that is armed only when a read leaves a request incomplete, so the common request that
  arrives in one read arms none. Idle keep-alive connections keep uvicorn's own 5 s timeout.
- Connections: at most `max_connections` open at once (WebSockets included). A connection beyond
  the cap closes the one that has been waiting longest for a request (idle, or still sending its
  head); only when every open connection is busy with a request is the newcomer refused with 503.
  Evicting the oldest waiter rather than refusing the newcomer is what keeps the API answering
  under a slow-client flood: a real client sends its request as soon as it connects, so the
  connections that have waited longest without a complete request are the slow ones, and a flood
  that holds every slot can no longer lock out everybody else (the health check included).

Not here: TLS, per-address limits and request rates (a reverse proxy's job, see the README), and
WebSocket connections once upgraded (uvicorn's WebSocket protocol takes over the socket; they
count towards the cap but are never evicted).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from wahooks.api.errors import error_body
from wahooks.config import Settings

log = logging.getLogger(__name__)

# Where a connection stands; only FRESH, HEAD and WAITING may be evicted.
FRESH = 0  # opened, first request not complete: the head deadline runs from the connection's start
HEAD = 1  # a later request began, its head is not complete
BODY = 2  # head complete, body not complete
APP = 3  # request complete, the application is answering
WAITING = 4  # answered, waiting for the next request (uvicorn's keep-alive timeout runs)

# File descriptors kept for everything but client connections: the database, log files, WAHA
# calls and the engine's sockets. Outgoing deliveries get WAHOOKS_MAX_IN_FLIGHT more.
RESERVED_FDS = 256


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int
    header_timeout: float
    body_timeout: float
    max_connections: int


def http_limits(settings: Settings) -> HttpLimits:
    """The limits from the settings; the connection cap, when not set, from the fd limit."""
    return HttpLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections or default_max_connections(settings.max_in_flight),
    )


def default_max_connections(max_in_flight: int) -> int:
    """What the soft RLIMIT_NOFILE leaves after deliveries and RESERVED_FDS, but at least half."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(soft - max_in_flight - RESERVED_FDS, soft // 2)


def raise_fd_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit (as Go and nginx do); return the soft limit.

    The common soft limit of 1,024 would otherwise cap a server whose hard limit allows far more.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # an unlimited hard limit is not a valid soft one everywhere
            pass
    return soft


def limited_protocol(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for uvicorn's `http=` option; its connections share one registry."""
    registry = _Registry(limits)

    class Configured(LimitedHttpToolsProtocol):
        _registry = registry

    return Configured


class _Registry:
    """What all connections of one server share: the limits and who is waiting, oldest first."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        # A dict keeps insertion order: the first key is the connection waiting longest.
        self.waiting: dict[LimitedHttpToolsProtocol, None] = {}

    def evict_oldest_waiting(self) -> bool:
        oldest = next(iter(self.waiting), None)
        if oldest is None:
            return False
        oldest.evict()
        return True


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head-size limit, deadlines and a connection cap."""

    _registry: _Registry

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = self._registry.limits
        self._waiting = self._registry.waiting
        self._max_head = self._limits.max_header_bytes
        self._stage = FRESH
        self._stage_started = 0.0
        self._head_bytes = 0  # bytes of reads that left the current head incomplete
        self._read_size = 0
        self._began = False  # a request's first byte arrived and its head is not complete
        self._deadline: asyncio.TimerHandle | None = None
        self._given_up = False

    # -- connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        at_cap = len(self.connections) >= self._limits.max_connections
        if at_cap and not self._registry.evict_oldest_waiting():
            super().connection_made(transport)
            log.warning("connection refused: every connection is busy",
                        extra={"action": "http.refuse", "cap": self._limits.max_connections})
            self._give_up(503, "Too many connections; try again later")
            return
        super().connection_made(transport)
        self._stage_started = self.loop.time()
        self._waiting[self] = None
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._waiting.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._waiting.pop(self, None)  # the WebSocket protocol owns the socket from here
        self._stage = APP
        self._disarm()
        super().handle_websocket_upgrade()

    def evict(self) -> None:
        """Make room for a new connection: close this waiting one at once."""
        self._waiting.pop(self, None)
        self._given_up = True
        self._disarm()
        self.transport.abort()

    # -- reading

    def data_received(self, data: bytes) -> None:
        self._read_size = len(data)
        super().data_received(data)
        stage = self._stage
        if stage in (FRESH, HEAD):
            if self._given_up:
                return
            if self.parser is not None and self._began:
                self._head_bytes += self._read_size
                if self._head_bytes > self._max_head:
                    self._give_up(431, "Request header fields too large")
                    return
            self._arm()
        elif stage == BODY:
            self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._stage != FRESH:
            self._stage = HEAD
            self._stage_started = self.loop.time()
        self._head_bytes = 0
        self._began = True

    def on_headers_complete(self) -> None:
        if self._given_up:
            return
        self._began = False
        if (self._head_bytes + self._read_size > self._max_head
                and self._head_size() > self._max_head):
            self._give_up(431, "Request header fields too large")
            return
        self._waiting.pop(self, None)
        self._stage = BODY
        self._stage_started = self.loop.time()
        self._start_request()

    def _start_request(self) -> None:
        """The head is complete and within the limits: hand the request on (to uvicorn's cycle
        and the application; a subclass may answer some requests itself)."""
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._given_up:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._given_up:
            return
        if self.cycle is not None and self.cycle.response_complete:  # answered before the body
            self._wait_for_next_request()
        else:
            self._stage = APP
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._stage == APP and not self.pipeline:  # a queued request is not waiting
            self._wait_for_next_request()
        super().on_response_complete()

    def _wait_for_next_request(self) -> None:
        self._stage = WAITING
        self._waiting[self] = None

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # -- deadlines

    def _arm(self) -> None:
        deadline = self._stage_deadline()
        timer = self._deadline
        if timer is not None:
            if timer.when() <= deadline:  # it fires first, then re-arms for this stage
                return
            timer.cancel()  # set for an earlier stage's longer limit
        self._deadline = self.loop.call_at(deadline, self._on_deadline)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _stage_deadline(self) -> float:
        limit = self._limits.body_timeout if self._stage == BODY else self._limits.header_timeout
        return self._stage_started + limit

    def _on_deadline(self) -> None:
        self._deadline = None
        if self._given_up or self._stage not in (FRESH, HEAD, BODY) or self.transport.is_closing():
            return
        if self.loop.time() < self._stage_deadline():  # a later stage or request: its own deadline
            self._arm()
            return
        if self._stage == BODY:
            self._give_up(408, "Request body not received in time")
        elif self._began or self._stage == HEAD:
            self._give_up(408, "Request header not received in time")
        else:  # nothing was sent at all: nobody to answer
            self._close_quietly()

    def _give_up(self, status: int, message: str) -> None:
        """Answer `status` and close, unless some answer is already on its way: then only close."""
        cycle = self.cycle
        if self._stage == BODY and cycle is not None:
            if not cycle.response_complete:
                cycle.disconnected = True  # the application's answer, if any, goes nowhere
                cycle.message_event.set()
            if cycle.response_started:
                self._close_quietly()
                return
        elif cycle is not None and not cycle.response_complete:  # a pipelined answer is running
            self._close_quietly()
            return
        body = orjson.dumps(error_body(status, message))
        self.transport.write(b"".join([
            STATUS_LINE[status],
            b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]))
        self._close_quietly()

    def _close_quietly(self) -> None:
        self._given_up = True
        self._waiting.pop(self, None)
        self._disarm()
        self.transport.close()
