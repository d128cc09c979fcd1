"""HttpClient against real servers on 127.0.0.1: an aiohttp app for ordinary answers, and raw
asyncio servers scripted byte by byte for the protocol's edge cases.

Servers count the connections they accept, so reuse, closes and SSRF refusals are observed from
the far side of the socket. Where a test needs DNS answers of its choosing, the event loop's
getaddrinfo answers from a table: the system resolver's seam, the one the client calls at
connect time; everything above it runs for real and only 127.0.0.1 is ever connected to.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp import web

from wahooks.delivery.http_client import (
    ConnectFailed,
    HttpClient,
    HttpResponse,
    ProtocolError,
    RequestTimeout,
)
from wahooks.delivery.targets import TargetPolicy, TargetRefused

STRICT = TargetPolicy(allow_private=False)
OPEN = TargetPolicy(allow_private=True)
UA = "wahooks-test/1"
HEADERS = [("Content-Type", "application/json"), ("X-WAHooks-Signature", "sha256=abc")]

Scenario = Callable[[], Coroutine[Any, Any, None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Run a scenario on the default event loop and on uvloop: the client must work on both."""

    def runner(scenario: Scenario) -> None:
        if request.param == "uvloop":
            uvloop.run(scenario())
        else:
            asyncio.run(scenario())

    return runner


async def post(client: HttpClient, url: str, body: bytes = b"{}", **kw: Any) -> HttpResponse:
    return await client.post(url, body, HEADERS, timeout=kw.pop("timeout", 5.0), **kw)


# -- an aiohttp receiver -----------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class AppServer:
    port: int
    requests: list[Received] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)  # one client address per TCP connection
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    barrier: int = 0  # /barrier answers once this many requests are in

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def app_server() -> AsyncIterator[AppServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    state = AppServer(sock.getsockname()[1])

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        state.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        state.requests.append(
            Received(request.method, request.path_qs, raw_headers(request), body)
        )
        kind = request.match_info["kind"]
        if kind == "status":
            code = int(request.query["code"])
            extra = {"Location": "https://elsewhere.example/next"} if code == 302 else {}
            return web.Response(status=code, text=f"answer {code}", headers=extra)
        if kind == "big":
            return web.Response(body=b"x" * 1_000_000)
        if kind == "slow":
            await asyncio.sleep(10)
        if kind == "close":
            response = web.Response(text="bye")
            response.force_close()
            return response
        if kind == "barrier":
            if len(state.requests) >= state.barrier:
                state.arrived.set()
            await asyncio.wait_for(state.arrived.wait(), 10)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{kind}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    try:
        yield state
    finally:
        await runner.cleanup()
        sock.close()


def raw_headers(request: web.Request) -> list[tuple[str, str]]:
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.raw_headers]


# -- raw receivers, scripted byte by byte ---------------------------------------------------------

Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@dataclass
class RawServer:
    port: int
    accepted: int = 0
    requests: list[bytes] = field(default_factory=list)  # raw heads, in arrival order
    bodies: list[bytes] = field(default_factory=list)
    eofs: int = 0  # connections the client closed
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request's head and body; None when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.eofs += 1
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head)
        self.bodies.append(body)
        return head

    async def wait_for_eofs(self, count: int) -> None:
        for _ in range(200):
            if self.eofs >= count:
                return
            await asyncio.sleep(0.01)


@asynccontextmanager
async def raw_server(
    handler: Handler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    """A TCP server on 127.0.0.1 running `handler(server, reader, writer, n)` for its n-th
    connection; the connection is closed when the handler returns."""
    state = RawServer(0)
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        state.accepted += 1
        try:
            await handler(state, reader, writer, state.accepted)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass  # the server is being torn down; a raise here would only be logged by asyncio
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()
            tasks.discard(task)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def answer(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


def keep_answering(response: bytes) -> Handler:
    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        while await server.read_request(reader) is not None:
            writer.write(response)

    return handler


class StaticDNSLoop(asyncio.SelectorEventLoop):
    """An event loop whose getaddrinfo answers from `table` (name -> addresses, or "slow").

    `port_map` redirects the looked-up port, so a URL without a port can reach a test server.
    """

    def __init__(self, table: dict[str, list[str] | str]) -> None:
        super().__init__()
        self.table = table
        self.lookups: list[str] = []
        self.port_map: dict[int, int] = {}

    @staticmethod
    def running() -> StaticDNSLoop:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, StaticDNSLoop)
        return loop

    async def getaddrinfo(  # type: ignore[override]
        self,
        host: str,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]]:
        self.lookups.append(host)
        answer = self.table.get(host)
        if answer is None:
            if host == "127.0.0.1":  # the client's connect of an address it already resolved
                return await super().getaddrinfo(
                    host, port, family=family, type=type, proto=proto, flags=flags
                )
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer == "slow":
            await asyncio.sleep(60)
        port = self.port_map.get(int(port or 0), int(port or 0))
        infos = []
        for address in answer:
            v6 = ":" in address
            af = socket.AF_INET6 if v6 else socket.AF_INET
            sockaddr = (address, port, 0, 0) if v6 else (address, port)
            infos.append((af, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return infos

    async def create_connection(self, protocol_factory: Any, host: Any = None, port: Any = None,
                                **kw: Any) -> Any:
        return await super().create_connection(
            protocol_factory, host, self.port_map.get(port, port), **kw
        )


def run_with_dns(table: dict[str, list[str] | str], scenario: Scenario) -> StaticDNSLoop:
    loop = StaticDNSLoop(table)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(scenario())
    return loop


# -- requests as the receiver sees them ----------------------------------------------------------


def test_the_receiver_gets_exactly_the_request_that_was_meant(run: Callable[[Scenario], None]) -> None:
    async def scenario() -> None:
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(OPEN, user_agent=UA)
            body = b'{"event": "message", "bytes": "\xc3\xa9\x00\xff"}'
            url = f"http://127.0.0.1:{server.port}/hooks/a%2Fb/\u00e9?x=a%20b&y=%26"
            response = await client.post(url, body, HEADERS, timeout=5)
            await client.close()
        assert response == HttpResponse(200, "OK", (("Content-Length", "2"),), b"ok")
        assert server.requests == [
            f"POST /hooks/a%2Fb/%C3%A9?x=a%20b&y=%26 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"User-Agent: {UA}\r\nConnection: keep-alive\r\n"
            "Content-Type: application/json\r\nX-WAHooks-Signature: sha256=abc\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        ]
        assert server.bodies == [body]

    run(scenario)


def test_aiohttp_reads_method_path_host_length_headers_and_body(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA)
            body = bytes(range(256)) * 40
            response = await post(client, server.url("/ok?delivery=d1"), body)
            await client.close()
        assert (response.status, response.reason, response.body) == (200, "OK", b"ok")
        [seen] = server.requests
        headers = dict(seen.headers)
        assert (seen.method, seen.path_qs, seen.body) == ("POST", "/ok?delivery=d1", body)
        assert headers["Host"] == f"127.0.0.1:{server.port}"
        assert headers["Content-Length"] == str(len(body))
        assert headers["Content-Type"] == "application/json"
        assert headers["X-WAHooks-Signature"] == "sha256=abc"
        assert headers["User-Agent"] == UA

    run(scenario)


def test_the_host_header_omits_the_default_port() -> None:
    async def scenario() -> None:
        async with raw_server(keep_answering(answer())) as server:
            loop = StaticDNSLoop.running()
            loop.port_map[80] = server.port  # the name's default port lands on our server
            client = HttpClient(OPEN, user_agent=UA)
            await post(client, "http://webhook.test/x")
            await client.close()
        assert b"\r\nHost: webhook.test\r\n" in server.requests[0]

    run_with_dns({"webhook.test": ["127.0.0.1"]}, scenario)


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ([("X-Evil", "a\r\nHost: evil.example")], "CR or LF"),
        ([("X-Evil", "a\nb")], "CR or LF"),
        ([("Host: evil.example\r\nX", "1")], "invalid header name"),
        ([("Bad Name", "1")], "invalid header name"),
        ([("content-length", "5")], "set by the client"),
        ([("Transfer-Encoding", "chunked")], "set by the client"),
    ],
)
def test_headers_that_would_change_the_request_are_refused(
    headers: list[tuple[str, str]], words: str
) -> None:
    async def scenario() -> None:
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(OPEN, user_agent=UA)
            with pytest.raises(ValueError, match=words):
                await client.post(server.url(), b"{}", headers, timeout=5)
            await client.close()
        assert server.accepted == 0

    asyncio.run(scenario())


# -- answers ---------------------------------------------------------------------------------------


def test_statuses_are_returned_as_they_are(run: Callable[[Scenario], None]) -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA)
            failed = await post(client, server.url("/status?code=500"))
            moved = await post(client, server.url("/status?code=302"))
            await client.close()
        assert (failed.status, failed.body) == (500, b"answer 500")
        assert failed.reason == "Internal Server Error"
        assert moved.status == 302
        assert moved.header("location") == "https://elsewhere.example/next"
        assert moved.header("X-Absent") is None
        assert len(server.requests) == 2  # the redirect was not followed
        assert len(server.peers) == 1

    run(scenario)


def test_a_body_beyond_the_limit_is_cut_and_its_connection_closed(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA, max_response_bytes=1000)
            big = await post(client, server.url("/big"))
            after = await post(client, server.url("/ok"))
            await client.close()
        assert (big.status, big.body, big.truncated) == (200, b"x" * 1000, True)
        assert (after.status, after.truncated) == (200, False)
        assert len(server.peers) == 2  # not drained: the cut connection was not reused

    run(scenario)


def test_a_slow_answer_times_out(run: Callable[[Scenario], None]) -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA)
            started = time.monotonic()
            with pytest.raises(RequestTimeout, match="no complete response within 0.3 s"):
                await post(client, server.url("/slow"), timeout=0.3)
            elapsed = time.monotonic() - started
            await client.close()
        assert 0.25 < elapsed < 2

    run(scenario)


def test_a_receiver_that_never_answers_times_out_and_loses_its_connection(
    run: Callable[[Scenario], None],
) -> None:
    async def never(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        await server.read_request(reader)  # returns when the client hangs up

    async def scenario() -> None:
        async with raw_server(never) as server:
            client = HttpClient(OPEN, user_agent=UA)
            with pytest.raises(RequestTimeout):
                await post(client, server.url(), timeout=0.2)
            for _ in range(100):
                if server.eofs:
                    break
                await asyncio.sleep(0.01)
            await client.close()
            assert server.eofs == 1

    run(scenario)


def test_connection_close_is_honoured(run: Callable[[Scenario], None]) -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA)
            first = await post(client, server.url("/close"))
            second = await post(client, server.url("/close"))
            await client.close()
        assert first.header("Connection") == "close"
        assert (first.body, second.body) == (b"bye", b"bye")
        assert len(server.peers) == 2

    run(scenario)


def test_chunked_body_with_extensions_and_trailers(run: Callable[[Scenario], None]) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
        b"5;name=value\r\nhello\r\n1;flag\r\n \r\n6\r\nworld!\r\n0\r\nX-Checksum: abc\r\n\r\n"
    )

    async def scenario() -> None:
        async with raw_server(keep_answering(chunked)) as server:
            client = HttpClient(OPEN, user_agent=UA)
            first = await post(client, server.url())
            second = await post(client, server.url())
            await client.close()
        assert first.body == second.body == b"hello world!"
        assert first.headers == (("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum"))
        assert server.accepted == 1  # a chunked answer leaves the connection reusable

    run(scenario)


def test_an_answer_written_a_byte_at_a_time(run: Callable[[Scenario], None]) -> None:
    response = (
        b"HTTP/1.1 201 Created\r\nX-Long: " + b"v" * 300 + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )

    async def dribble(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        while await server.read_request(reader) is not None:
            for i in range(len(response)):
                writer.write(response[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0)

    async def scenario() -> None:
        async with raw_server(dribble) as server:
            client = HttpClient(OPEN, user_agent=UA)
            first = await post(client, server.url())
            second = await post(client, server.url())
            await client.close()
        assert (first.status, first.reason, first.body) == (201, "Created", b"abcdefg")
        assert first.header("x-long") == "v" * 300
        assert second == first
        assert server.accepted == 1

    run(scenario)


def test_interim_100_continue_is_skipped(run: Callable[[Scenario], None]) -> None:
    response = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        + answer(b"final", b"X-Final: yes\r\n")
    )

    async def scenario() -> None:
        async with raw_server(keep_answering(response)) as server:
            client = HttpClient(OPEN, user_agent=UA)
            first = await post(client, server.url())
            second = await post(client, server.url())
            await client.close()
        assert (first.status, first.body, first.header("X-Final")) == (200, b"final", "yes")
        assert first.header("Link") is None  # the interim answer's headers are not the answer's
        assert second == first
        assert server.accepted == 1

    run(scenario)


def test_an_http10_answer_without_length_is_read_until_close(
    run: Callable[[Scenario], None],
) -> None:
    async def old(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"the end")

    async def scenario() -> None:
        async with raw_server(old) as server:
            client = HttpClient(OPEN, user_agent=UA)
            first = await post(client, server.url())
            second = await post(client, server.url())
            await client.close()
        assert (first.status, first.body) == (200, b"until the end")
        assert second.body == b"until the end"
        assert server.accepted == 2

    run(scenario)


def test_an_http10_answer_with_keep_alive_still_closes(run: Callable[[Scenario], None]) -> None:
    response = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"

    async def scenario() -> None:
        async with raw_server(keep_answering(response)) as server:
            client = HttpClient(OPEN, user_agent=UA)
            await post(client, server.url())
            await post(client, server.url())
            await client.close()
        assert server.accepted == 2

    run(scenario)


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (b"garbage\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "malformed"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "101"),
    ],
)
def test_malformed_answers_are_protocol_errors(response: bytes, words: str) -> None:
    async def scenario() -> None:
        async with raw_server(keep_answering(response)) as server:
            client = HttpClient(OPEN, user_agent=UA)
            with pytest.raises(ProtocolError, match=words):
                await post(client, server.url())
            await client.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("partial", "words"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Ty", "middle of the response headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "middle of the response body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "response body"),
    ],
)
def test_a_close_in_the_middle_of_an_answer_is_a_protocol_error(
    run: Callable[[Scenario], None], partial: bytes, words: str
) -> None:
    async def cut(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(partial)
        await writer.drain()

    async def scenario() -> None:
        async with raw_server(cut) as server:
            client = HttpClient(OPEN, user_agent=UA)
            with pytest.raises(ProtocolError, match=words):
                await post(client, server.url())
            await client.close()
        assert server.accepted == 1

    run(scenario)


def test_an_answer_before_the_body_is_sent_is_returned(run: Callable[[Scenario], None]) -> None:
    """A receiver may refuse after reading the head; the client must not wait for its write."""

    async def early(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        server.requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope")
        await writer.drain()
        await server.release.wait()  # and never read the body

    async def scenario() -> None:
        async with raw_server(early) as server:
            client = HttpClient(OPEN, user_agent=UA)
            started = time.monotonic()
            refused = await post(client, server.url(), b"x" * 32_000_000, timeout=10)
            elapsed = time.monotonic() - started
            server.release.set()
            await client.close()
        assert (refused.status, refused.body) == (413, b"nope")
        assert elapsed < 5

    run(scenario)


# -- the pool --------------------------------------------------------------------------------------


def test_sequential_posts_share_one_connection(run: Callable[[Scenario], None]) -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA)
            for i in range(25):
                response = await post(client, server.url(f"/ok?n={i}"))
                assert response.status == 200
            await client.close()
        assert len(server.requests) == 25
        assert len(server.peers) == 1

    run(scenario)


def test_concurrent_posts_open_no_more_connections_than_needed(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA)
            server.barrier = 200  # every answer waits until all 200 are in: 200 are needed
            first = await asyncio.gather(*(post(client, server.url("/barrier")) for _ in range(200)))
            assert len(server.peers) == 200
            second = await asyncio.gather(*(post(client, server.url("/ok")) for _ in range(200)))
            await client.close()
        assert [r.status for r in first + second] == [200] * 400
        assert len(server.peers) == 200  # the second wave reused them all

    run(scenario)


def test_idle_connections_beyond_the_limit_are_closed() -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA, max_idle_per_origin=2)
            server.barrier = 5
            await asyncio.gather(*(post(client, server.url("/barrier")) for _ in range(5)))
            for _ in range(5):
                await post(client, server.url("/ok"))
            await client.close()
        assert len(server.peers) == 5  # sequential posts reuse one of the two kept

    asyncio.run(scenario())


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    run: Callable[[Scenario], None],
) -> None:
    async def once(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(answer())  # keep-alive by default, then the server's idle timeout strikes

    async def scenario() -> None:
        async with raw_server(once) as server:
            client = HttpClient(OPEN, user_agent=UA)
            await post(client, server.url())
            await asyncio.sleep(0.1)
            second = await post(client, server.url())
            await client.close()
        assert second.status == 200
        assert server.accepted == 2
        assert len(server.requests) == 2  # the close was seen before reuse: nothing resent

    run(scenario)


def test_a_pooled_connection_closed_as_it_is_reused_is_retried_once(
    run: Callable[[Scenario], None],
) -> None:
    """The race the pool cannot see: the server closes just as the next request goes out."""

    async def racy(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(answer(b"first"))
        if n == 1:
            await server.read_request(reader)  # read the second request, then hang up unanswered
            return
        while await server.read_request(reader) is not None:
            writer.write(answer(b"again"))

    async def scenario() -> None:
        async with raw_server(racy) as server:
            client = HttpClient(OPEN, user_agent=UA)
            first = await post(client, server.url(), b"one")
            second = await post(client, server.url(), b"two")
            await client.close()
        assert (first.body, second.body) == (b"first", b"first")
        assert server.accepted == 2
        # The trade-off, in plain sight: the receiver read the retried request twice.
        assert server.bodies == [b"one", b"two", b"two"]

    run(scenario)


def test_a_new_connection_closed_before_answering_is_not_retried(
    run: Callable[[Scenario], None],
) -> None:
    async def rude(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)

    async def scenario() -> None:
        async with raw_server(rude) as server:
            client = HttpClient(OPEN, user_agent=UA)
            with pytest.raises(ProtocolError, match="closed before any response"):
                await post(client, server.url())
            await client.close()
        assert server.accepted == 1

    run(scenario)


def test_idle_connections_expire(run: Callable[[Scenario], None]) -> None:
    async def scenario() -> None:
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(OPEN, user_agent=UA, idle_timeout=0.1)
            await post(client, server.url())
            for _ in range(100):  # the sweeper closes it, though nothing is posted meanwhile
                if server.eofs:
                    break
                await asyncio.sleep(0.02)
            assert server.eofs == 1
            await post(client, server.url())
            await client.close()
        assert server.accepted == 2

    run(scenario)


def test_a_cancelled_post_drops_its_connection_and_close_ends_the_rest(
    run: Callable[[Scenario], None],
) -> None:
    async def hold(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        if n == 1:
            await server.read_request(reader)  # until the client hangs up
            return
        writer.write(answer())
        await server.read_request(reader)

    async def scenario() -> None:
        async with raw_server(hold) as server:
            client = HttpClient(OPEN, user_agent=UA)
            task = asyncio.create_task(post(client, server.url()))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await post(client, server.url())).status == 200  # a new connection
            await client.close()
            for _ in range(100):
                if server.eofs == 2:
                    break
                await asyncio.sleep(0.01)
            assert server.eofs == 2
            with pytest.raises(RuntimeError, match="closed"):
                await post(client, server.url())

    run(scenario)


# -- connecting ----------------------------------------------------------------------------------


def test_a_refused_connection_names_host_and_port(run: Callable[[Scenario], None]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once the probe closes: nothing listens there

    async def scenario() -> None:
        client = HttpClient(OPEN, user_agent=UA)
        with pytest.raises(ConnectFailed, match=rf"connection to 127.0.0.1:{port} .*refused"):
            await post(client, f"http://127.0.0.1:{port}/hook")
        await client.close()

    run(scenario)


def test_ssrf_literal_and_local_names_are_refused_before_connecting(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario() -> None:
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(STRICT, user_agent=UA)
            for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433"):
                with pytest.raises(TargetRefused, match="loopback"):
                    await post(client, f"http://{host}:{server.port}/hook")
            await client.close()
        assert server.accepted == 0

    run(scenario)


def test_allow_private_delivers_to_loopback() -> None:
    async def scenario() -> None:
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(OPEN, user_agent=UA)
            assert (await post(client, f"http://127.0.0.1:{server.port}/hook")).status == 200
            assert (await post(client, f"http://localhost:{server.port}/hook")).status == 200
            await client.close()

    # localhost may resolve to ::1 first; keep every connection on 127.0.0.1
    run_with_dns({"localhost": ["127.0.0.1"]}, scenario)


def test_a_name_rebound_to_loopback_is_refused_at_connect_time() -> None:
    """check_url passes a public-looking name; what it resolves to at connect time decides."""

    async def scenario() -> None:
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(STRICT, user_agent=UA)
            url = f"http://hooks.example.com:{server.port}/hook"
            assert STRICT.check_url(url) == url
            with pytest.raises(
                TargetRefused,
                match="webhook host hooks.example.com resolves to 127.0.0.1, a loopback address",
            ) as caught:
                await post(client, url)
            await client.close()
        assert server.accepted == 0
        assert (caught.value.address, caught.value.category) == ("127.0.0.1", "loopback")

    loop = run_with_dns({"hooks.example.com": ["127.0.0.1", "10.1.2.3"]}, scenario)
    assert loop.lookups == ["hooks.example.com"]


def test_a_name_is_resolved_again_for_each_new_connection_only() -> None:
    async def scenario() -> None:
        async with app_server() as server:
            client = HttpClient(OPEN, user_agent=UA)
            for _ in range(3):
                await post(client, f"http://hooks.example.com:{server.port}/ok")
            await client.close()

    loop = run_with_dns({"hooks.example.com": ["127.0.0.1"]}, scenario)
    assert loop.lookups.count("hooks.example.com") == 1


def test_a_failed_lookup_is_connect_failed_and_a_slow_one_times_out() -> None:
    async def scenario() -> None:
        client = HttpClient(OPEN, user_agent=UA)
        with pytest.raises(ConnectFailed, match="DNS lookup for nowhere.example.com failed"):
            await post(client, "http://nowhere.example.com/hook")
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await post(client, "http://slow.example.com/hook", timeout=0.2)
        assert time.monotonic() - started < 2
        await client.close()

    run_with_dns({"slow.example.com": "slow"}, scenario)


# -- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for webhook.test, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=webhook.test", "-addext", "subjectAltName=DNS:webhook.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def tls_context(cert: Path, key: Path, names: list[str | None]) -> ssl.SSLContext:
    """The server side's TLS, recording the name each client asked for (SNI)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def record(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = record  # type: ignore[assignment]
    return context


def test_https_with_a_trusted_certificate_and_sni(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # what create_default_context trusts
    names: list[str | None] = []

    async def scenario() -> None:
        context = tls_context(cert, key, names)
        async with raw_server(keep_answering(answer(b"secure")), context) as server:
            client = HttpClient(OPEN, user_agent=UA)
            first = await post(client, f"https://webhook.test:{server.port}/hook")
            second = await post(client, f"https://webhook.test:{server.port}/hook")
            await client.close()
        assert (first.status, second.body) == (200, b"secure")
        assert server.accepted == 1
        assert b"\r\nHost: webhook.test:%d\r\n" % server.port in server.requests[0]

    run_with_dns({"webhook.test": ["127.0.0.1"]}, scenario)
    assert names == ["webhook.test"]


def test_an_untrusted_certificate_is_connect_failed(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate

    async def scenario() -> None:
        async with raw_server(keep_answering(answer()), tls_context(cert, key, [])) as server:
            client = HttpClient(OPEN, user_agent=UA)
            with pytest.raises(
                ConnectFailed,
                match=rf"TLS handshake with webhook.test:{server.port} \(127.0.0.1\) failed: "
                ".*CERTIFICATE_VERIFY_FAILED",
            ):
                await post(client, f"https://webhook.test:{server.port}/hook")
            await client.close()

    run_with_dns({"webhook.test": ["127.0.0.1"]}, scenario)
