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
timer per client, so a timeout may fire up to 10 ms late (see `Deadlines` for why).

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
import logging
import re
import socket
import ssl
from collections.abc import Sequence
from ipaddress import ip_address

from yarl import URL

from wahooks.delivery.http_connection import Connection, Deadlines, Origin, Target
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
        self._targets: dict[str, Target] = {}
        self._names: set[str] = set()  # header names already found valid
        self._idle: dict[Origin, list[Connection]] = {}
        self._connections: set[Connection] = set()
        self._ssl: ssl.SSLContext | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._deadlines = Deadlines()
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

    @property
    def user_agent(self) -> str:
        return self._user_agent

    def host_header(self, url: str) -> str:
        """The Host header a POST to `url` carries; refuses the URL as `post` would."""
        return (self._targets.get(url) or self._target(url)).host_header

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

    def _target(self, url: str) -> Target:
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
        assert host_header is not None  # there is a host (above)
        path = parsed.raw_path_qs or "/"
        prefix = (
            f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {self._user_agent}\r\n"
            "Connection: keep-alive\r\n"
        )
        target = Target(Origin(parsed.scheme, host, port), label, literal, prefix, host_header)
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
        conn: Connection,
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

    def _acquire(self, origin: Origin, now: float) -> Connection | None:
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

    def _release(self, loop: asyncio.AbstractEventLoop, conn: Connection) -> None:
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
        self, loop: asyncio.AbstractEventLoop, target: Target, deadline: float, timeout: float
    ) -> Connection:
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
        self, loop: asyncio.AbstractEventLoop, target: Target
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
        target: Target,
        addresses: list[tuple[socket.AddressFamily, str]],
    ) -> Connection:
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
        target: Target,
        family: socket.AddressFamily,
        address: str,
        tls: bool,
    ) -> Connection:
        conn = Connection(loop, target, self._max_body)
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
