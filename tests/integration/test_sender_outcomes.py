"""The sender classifies every failure it sees: real sockets on 127.0.0.1, scripted byte by byte.

Each case checks the error class the retry policy and observers get, the error text the delivery
log shows (unchanged by the classification), and the Retry-After the receiver asked for. Name
lookups answer from a table in the event loop (the system resolver's seam); nothing but 127.0.0.1
is ever connected to.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest
import uvloop

from wahooks.delivery.sender import Sender
from wahooks.delivery.targets import TargetPolicy
from wahooks.models import AttemptOutcome, DeliveryJob, ErrorClass

OPEN = TargetPolicy(allow_private=True)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def delivery(url: str) -> DeliveryJob:
    return DeliveryJob("dlv_1", "wh_1", url, "whsec_test", "message", b"{}", 1, 0)


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running `handler` per connection; yields its port."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            await handler(reader, writer)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)


def answering(response: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        await writer.drain()

    return handler


async def never_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.Event().wait()


async def closing_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    pass


async def speaking_plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)  # the client's TLS hello has begun
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def send_once(url: str, *, policy: TargetPolicy = OPEN, timeout: float = 5.0) -> AttemptOutcome:
    sender = Sender(policy, timeout=timeout)
    await sender.start()
    try:
        return await sender.send(delivery(url))
    finally:
        await sender.close()


async def against(handler: Handler, *, scheme: str = "http", **kw: Any) -> AttemptOutcome:
    async with raw_server(handler) as port:
        return await send_once(f"{scheme}://127.0.0.1:{port}/hook", **kw)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[AttemptOutcome]], AttemptOutcome]:
    """Run on the default loop and on uvloop (the server's): their errors differ in type."""

    def runner(work: Awaitable[AttemptOutcome]) -> AttemptOutcome:
        async def main() -> AttemptOutcome:
            return await work

        return uvloop.run(main()) if request.param == "uvloop" else asyncio.run(main())

    return runner


Run = Callable[[Awaitable[AttemptOutcome]], AttemptOutcome]


def test_a_2xx_has_no_error_class(run: Run) -> None:
    outcome = run(against(answering(b"HTTP/1.1 204 No Content\r\nRetry-After: 5\r\n\r\n")))
    assert (outcome.status_code, outcome.error, outcome.error_class) == (204, None, None)
    assert outcome.retry_after is None
    assert outcome.succeeded


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(b"Retry-After: 120\r\n", 120.0), (b"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", 0.0),
     (b"Retry-After: later\r\n", None), (b"", None)],
)
def test_an_error_status_keeps_its_retry_after(
    run: Run, retry_after: bytes, expected: float | None
) -> None:
    response = b"HTTP/1.1 503 Busy\r\n" + retry_after + b"Content-Length: 4\r\n\r\nbusy"
    outcome = run(against(answering(response)))
    assert (outcome.status_code, outcome.error) == (503, "HTTP 503: busy")
    assert (outcome.error_class, outcome.retry_after) == (ErrorClass.HTTP_STATUS, expected)


def test_a_redirect_is_an_error_status(run: Run) -> None:
    response = b"HTTP/1.1 301 Moved\r\nLocation: http://10.0.0.1/\r\nContent-Length: 0\r\n\r\n"
    outcome = run(against(answering(response)))
    assert outcome.error == "HTTP 301: redirect to 'http://10.0.0.1/' not followed"
    assert outcome.error_class is ErrorClass.HTTP_STATUS


def test_no_answer_in_time_is_a_timeout(run: Run) -> None:
    outcome = run(against(never_answering, timeout=0.2))
    assert outcome.error == "timeout: no response within 0.2 s"
    assert (outcome.status_code, outcome.error_class) == (None, ErrorClass.TIMEOUT)


def test_a_close_before_any_answer_is_a_reset(run: Run) -> None:
    outcome = run(against(closing_at_once))
    assert outcome.error is not None and outcome.error.startswith("connection error: ")
    assert outcome.error_class is ErrorClass.CONNECT_RESET


async def endless_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 140_000)
    await writer.drain()
    await asyncio.Event().wait()


def test_a_head_past_the_limit_is_too_large(run: Run) -> None:
    outcome = run(against(endless_head))
    assert outcome.error is not None and "response head longer than 65536 bytes" in outcome.error
    assert outcome.error_class is ErrorClass.RESPONSE_TOO_LARGE


def test_plain_http_where_tls_was_expected_is_a_tls_failure(run: Run) -> None:
    outcome = run(against(speaking_plain_http, scheme="https"))
    assert outcome.error is not None and "TLS handshake with" in outcome.error
    assert outcome.error_class is ErrorClass.TLS


def test_a_port_nobody_listens_on_refuses(run: Run) -> None:
    # Bound but not listening: the kernel answers a connection attempt with a reset (refused).
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        outcome = run(send_once(f"http://127.0.0.1:{port}/hook"))
    assert outcome.error == f"connection error: connection to 127.0.0.1:{port} (127.0.0.1) refused"
    assert outcome.error_class is ErrorClass.CONNECT_REFUSED


def test_a_private_address_is_refused_by_the_target_policy(run: Run) -> None:
    outcome = run(send_once("http://127.0.0.1:9/hook", policy=TargetPolicy(allow_private=False)))
    assert outcome.error is not None and outcome.error.startswith("refused: ")
    assert outcome.error_class is ErrorClass.TARGET_REFUSED
    # The log says which rule refused it and that it is not final.
    assert "safe-targets policy; retried" in outcome.error


class NoNamesLoop(asyncio.SelectorEventLoop):
    """A loop whose resolver knows no name: a lookup fails as the system's does."""

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    with asyncio.Runner(loop_factory=NoNamesLoop) as runner:
        outcome = runner.run(send_once("http://receiver.example/hook"))
    assert outcome.error == (
        "connection error: DNS lookup for receiver.example failed:"
        " [Errno -2] Name or service not known"
    )
    assert outcome.error_class is ErrorClass.DNS
