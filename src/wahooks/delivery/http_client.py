"""A lean HTTP/1.1 client for webhook POSTs: asyncio protocols, a keep-alive pool, SSRF checks.

Why not aiohttp: the server delivers on one core, so the client's CPU per request caps deliveries
per second. aiohttp spends ~100 us of CPU per POST on this kind of machine; this client does the
one thing a webhook sender needs (a POST with a small body, a small answer, no redirects, no
cookies, no proxies) with a protocol object per connection and httptools' C parser.

Connections. One request at a time per connection (no pipelining: a slow answer must not hold up
the next delivery). Idle connections are kept per origin (scheme, host, port) and reused last in,
first out, so a burst's spare connections are the ones that age out; they expire after
`idle_timeout` seconds, and one the server closed is dropped as soon as its close is seen.

Target policy. The URL is checked by `TargetPolicy.check_url` (no I/O, cached per URL string).
Every new connection is checked where it matters, on the address about to be connected: a name is
resolved with `loop.getaddrinfo` at connect time and refused addresses are dropped, so a name
re-pointed at 127.0.0.1 after the webhook was created (DNS rebinding) cannot reach it. A pooled
connection is only ever reused for the origin it was checked for.

Stale connections. A server may close an idle connection just as it is picked for a new request.
If the connection was reused and closes before any byte of the answer arrives, the request is
sent once more on a fresh connection. The server may have received the first copy, so a receiver
can see a webhook twice; deliveries are at-least-once anyway and carry a delivery id, and closes
seen before reuse (the common case) never get this far.

Requests. `POST <path?query> HTTP/1.1` with Host, User-Agent, Connection: keep-alive, the
caller's headers and Content-Length, written with one write. Callers may not pass those four
names or Transfer-Encoding, nor CR/LF in a value (ValueError): each would let a header value
rewrite the request.

Timeouts. `timeout` covers the whole attempt: lookup, connect, TLS handshake, send and the
complete answer. While a request waits, its deadline sits in a bucket of 10 ms checked by one
timer per client, so a timeout may fire up to 10 ms late (see `_Deadlines` for why).

Answers. The body is read up to `max_response_bytes`; a longer body is cut there
(`HttpResponse.truncated`) and its connection closed rather than drained, because draining
spends this process's CPU and the attempt's time on bytes nobody reads, and a receiver could make
it endless. Interim 1xx answers are skipped. An answer that arrives while the request body is
still being written (a receiver refusing early) is returned; that connection is then closed.

Not supported: proxies, HTTP/2, redirects (a 3xx is returned as it is), compression (no
Accept-Encoding is sent), Happy Eyeballs (addresses are tried one after the other), response
folded (obs-fold) header lines or lines ending in a bare LF (llhttp refuses them), and
"Transfer-Encoding: chunked" followed by a tab (llhttp then reads the body until the close).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import re
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import NamedTuple, cast

from yarl import URL

from wahooks.delivery.http_response import (
    ClosedBeforeAnswer,
    ConnectFailed,
    ConnectionClosed,
    ConnectRefused,
    DnsLookupFailed,
    HttpClientError,
    HttpResponse,
    ProtocolError,
    RequestTimeout,
    ResponseParser,
    TlsHandshakeFailed,
)
from wahooks.delivery.targets import TargetPolicy, TargetRefused

__all__ = [
    "ConnectFailed",
    "HttpClient",
    "HttpClientError",
    "HttpResponse",
    "ProtocolError",
    "RequestTimeout",
    "ResponseParser",
]

logger = logging.getLogger(__name__)

_MAX_TARGETS = 4096  # parsed URLs kept; webhooks are few, so this only bounds a pathological caller
# Set by the client itself: a caller's copy would contradict ours (two Content-Lengths is request
# smuggling) or change the framing.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection", "user-agent"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class _Origin(NamedTuple):
    scheme: str
    host: str  # as connected to: IDNA-encoded name or IP literal (IPv6 without brackets)
    port: int


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL means to the client, computed once per URL string."""

    origin: _Origin
    label: str  # host:port for messages
    literal: bool  # the host is an IP address: checked directly, never resolved
    prefix: str  # request line and the headers the client sets, but for Content-Length


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, target: _Target, max_body: int
    ) -> None:
        self.target = target
        self.parser = ResponseParser(max_body)
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self.timeout = 0.0  # of the request in flight, for its RequestTimeout message
        self.slot = 0  # its bucket in _Deadlines
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


class _Deadlines:
    """The deadlines of the requests in flight, in buckets of TICK seconds, with one timer.

    A timer per request costs ~3 us to arm and cancel on uvloop, about a sixth of a whole POST;
    bucketing costs a set insert and removal, and lets a timeout fire up to TICK late.
    """

    TICK = 0.01

    def __init__(self) -> None:
        self._buckets: dict[int, set[_Connection]] = {}
        self._slots: list[int] = []  # heap of the buckets' numbers
        self._timer: asyncio.TimerHandle | None = None
        self._armed = 0  # the bucket the timer fires for

    def watch(self, loop: asyncio.AbstractEventLoop, conn: _Connection, deadline: float) -> None:
        slot = int(deadline / self.TICK) + 1  # the first tick at or after the deadline
        conn.slot = slot
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = set()
            heapq.heappush(self._slots, slot)
            if self._timer is None or slot < self._armed:
                self._arm(loop, slot)
        bucket.add(conn)

    def unwatch(self, conn: _Connection) -> None:
        bucket = self._buckets.get(conn.slot)
        if bucket is not None:
            bucket.discard(conn)

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


class HttpClient:
    """POSTs to webhook URLs over pooled keep-alive connections, within `policy`.

    Create it anywhere; use it from one event loop; `await close()` when done. Errors:
    TargetRefused (from `wahooks.delivery.targets`) when the policy refuses the URL or every
    address its host resolves to; ConnectFailed, RequestTimeout, ProtocolError (all
    HttpClientError) otherwise; ValueError for a header the client cannot send.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        max_idle_per_origin: int = 256,
        idle_timeout: float = 30.0,
        max_response_bytes: int = 65536,
        user_agent: str,
    ) -> None:
        self._policy = policy
        self._max_idle = max_idle_per_origin
        self._idle_timeout = idle_timeout
        self._max_body = max_response_bytes
        if "\n" in user_agent or "\r" in user_agent:
            raise ValueError("user_agent must not contain CR or LF")
        self._user_agent = user_agent
        self._targets: dict[str, _Target] = {}
        self._names: set[str] = set()  # header names already found valid
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._connections: set[_Connection] = set()
        self._ssl: ssl.SSLContext | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._deadlines = _Deadlines()
        self._closed = False

    async def post(
        self, url: str, body: bytes, headers: Sequence[tuple[str, str]], *, timeout: float
    ) -> HttpResponse:
        """POST `body` to `url` with `headers` and return the answer, whatever its status."""
        if self._closed:
            raise RuntimeError("HttpClient is closed")
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + timeout
        target = self._targets.get(url) or self._target(url)
        data = self._request(target.prefix, body, headers)
        conn = self._acquire(target.origin, now)
        if conn is not None:
            try:
                return await self._exchange(loop, conn, data, deadline, timeout)
            except ClosedBeforeAnswer:
                if self._closed:  # close() ended it: do not open another
                    raise ProtocolError("HttpClient closed during the request") from None
                # Closed as it was picked, before answering: very likely never read the request.
                logger.debug(
                    "pooled connection closed before answering; retrying on a new one",
                    extra={"action": "http_stale_retry", "origin": target.label},
                )
        conn = await self._connect(loop, target, deadline, timeout)
        try:
            return await self._exchange(loop, conn, data, deadline, timeout)
        except ClosedBeforeAnswer as exc:  # a fresh connection: not stale, so no second try
            raise ConnectionClosed(str(exc)) from None

    async def close(self) -> None:
        """Close every connection, idle or busy; a busy request fails with ProtocolError."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._deadlines.close()
        self._idle.clear()
        connections = list(self._connections)
        for conn in connections:
            conn.abort()
        if connections:
            await asyncio.gather(*(conn.lost for conn in connections))

    # -- requests

    def _target(self, url: str) -> _Target:
        normalised = self._policy.check_url(url)  # InvalidTargetURL / TargetRefused, no I/O
        parsed = URL(normalised)
        host = parsed.raw_host
        port = parsed.port
        assert host is not None and port is not None  # check_url refuses URLs without them
        try:
            ip_address(host)
            literal = True
        except ValueError:
            literal = False
        label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        host_header = parsed.host_port_subcomponent
        path = parsed.raw_path_qs or "/"
        prefix = (
            f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {self._user_agent}\r\n"
            "Connection: keep-alive\r\n"
        )
        target = _Target(_Origin(parsed.scheme, host, port), label, literal, prefix)
        if len(self._targets) >= _MAX_TARGETS:
            self._targets.clear()
        self._targets[url] = target
        return target

    def _request(self, prefix: str, body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
        names = self._names
        for name, _ in headers:
            if name not in names:
                self._admit_name(name)
        fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
        # Names are tokens, so a value with CR or LF is the only way a line break gets in; one
        # count over the whole block is cheaper than a check per value.
        if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
            raise ValueError("header values must not contain CR or LF")
        head = f"{prefix}{fields}Content-Length: {len(body)}\r\n\r\n"
        return b"".join((head.encode(), body))

    def _admit_name(self, name: str) -> None:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in _RESERVED:
            raise ValueError(f"header {name} is set by the client")
        if len(self._names) < 1024:
            self._names.add(name)

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        conn: _Connection,
        data: bytes,
        deadline: float,
        timeout: float,
    ) -> HttpResponse:
        waiter: asyncio.Future[HttpResponse] = loop.create_future()
        conn.send(data, waiter)
        conn.timeout = timeout
        self._deadlines.watch(loop, conn, deadline)
        try:
            response = await waiter
        except BaseException:  # cancelled, timed out or failed: the connection is in an unknown state
            conn.abort()
            raise
        finally:
            self._deadlines.unwatch(conn)
        self._release(loop, conn)
        return response

    # -- the pool

    def _acquire(self, origin: _Origin, now: float) -> _Connection | None:
        stack = self._idle.get(origin)
        while stack:
            conn = stack.pop()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                continue
            if now - conn.idle_since > self._idle_timeout:
                # Last in, first out: everything below this one is older still.
                for old in (conn, *stack):
                    old.close()
                stack.clear()
                return None
            conn.reused = True
            return conn
        return None

    def _release(self, loop: asyncio.AbstractEventLoop, conn: _Connection) -> None:
        if self._closed or not conn.reusable():
            conn.discard()
            return
        conn.idle_since = loop.time()
        stack = self._idle.get(conn.target.origin)
        if stack is None:
            stack = self._idle[conn.target.origin] = []
        stack.append(conn)
        if len(stack) > self._max_idle:
            stack.pop(0).close()
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._sweep_interval(), self._sweep, loop)

    def _sweep_interval(self) -> float:
        return max(0.05, self._idle_timeout / 4)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close connections idle too long, including those of origins no longer posted to."""
        self._sweeper = None
        cutoff = loop.time() - self._idle_timeout
        for origin, stack in list(self._idle.items()):
            keep = [c for c in stack if not c.closed and c.idle_since >= cutoff]
            for conn in stack:
                if conn.idle_since < cutoff:
                    conn.close()
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]
        if self._idle and not self._closed:
            self._sweeper = loop.call_later(self._sweep_interval(), self._sweep, loop)

    # -- connecting

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, target: _Target, deadline: float, timeout: float
    ) -> _Connection:
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await self._addresses(loop, target)
                conn = await self._open(loop, target, addresses)
        except TimeoutError:
            raise RequestTimeout(f"no complete response within {timeout:g} s") from None
        if self._closed:
            conn.abort()
            raise RuntimeError("HttpClient is closed")
        return conn

    async def _addresses(
        self, loop: asyncio.AbstractEventLoop, target: _Target
    ) -> list[tuple[socket.AddressFamily, str]]:
        """The addresses to try, in the resolver's order, each one allowed by the policy."""
        host, port = target.origin.host, target.origin.port
        if target.literal:
            self._policy.check_address(host)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return [(family, host)]
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:  # socket.gaierror
            raise DnsLookupFailed(f"DNS lookup for {host} failed: {exc}") from None
        allowed: list[tuple[socket.AddressFamily, str]] = []
        refused: TargetRefused | None = None
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = str(sockaddr[0])
            try:
                self._policy.check_address(address)
            except TargetRefused as exc:
                refused = refused or exc
                continue
            if (family, address) not in allowed:
                allowed.append((family, address))
        if not allowed:
            if refused is not None:
                reason = str(refused).removeprefix(f"{refused.address} is ")
                raise TargetRefused(
                    f"webhook host {host} resolves to {refused.address}, {reason}",
                    address=refused.address,
                    category=refused.category,
                )
            raise DnsLookupFailed(f"DNS lookup for {host} returned no IP address")
        return allowed

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop,
        target: _Target,
        addresses: list[tuple[socket.AddressFamily, str]],
    ) -> _Connection:
        tls = target.origin.scheme == "https"
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        failures: list[ConnectFailed] = []
        for family, address in addresses:
            try:
                return await self._open_one(loop, target, family, address, tls)
            except ssl.SSLError as exc:  # an OSError too: test it first
                failures.append(TlsHandshakeFailed(
                    f"TLS handshake with {target.label} ({address}) failed: {exc}"
                ))
            except ConnectionRefusedError:
                failures.append(ConnectRefused(f"connection to {target.label} ({address}) refused"))
            except OSError as exc:
                failures.append(ConnectFailed(
                    f"could not connect to {target.label} ({address}): {exc}"
                ))
        more = f" (and {len(failures) - 1} other address(es) failed)" if len(failures) > 1 else ""
        # The first address's failure names the class: it is the one the resolver preferred.
        raise type(failures[0])(failures[0].message + more)

    async def _open_one(
        self,
        loop: asyncio.AbstractEventLoop,
        target: _Target,
        family: socket.AddressFamily,
        address: str,
        tls: bool,
    ) -> _Connection:
        conn = _Connection(loop, target, self._max_body)
        await loop.create_connection(
            lambda: conn,
            address,
            target.origin.port,
            family=family,
            ssl=self._ssl if tls else None,
            server_hostname=target.origin.host if tls else None,
        )
        # No await from here on: a connection is either tracked or was never made.
        self._connections.add(conn)
        conn.lost.add_done_callback(lambda _: self._connections.discard(conn))
        return conn
