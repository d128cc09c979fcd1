"""The HTTP server's own limits (issue 11, items 1 and 2), attacked as a client would on loopback.

Each attack is bounded: it stops after a fixed amount of data or time, and the test fails if
the server has not ended it by then (as it never did before these limits).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support.server import ServerProcess, wait_until

HEAD = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    servers: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None, fd_limit: int | None = None) -> ServerProcess:
        server = ServerProcess(tmp_path / f"wahooks{len(servers)}.db", env=env, fd_limit=fd_limit)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def outcome(sock: socket.socket) -> str:
    """How the server ended the exchange: its status code, 'closed', or 'no answer' in 10 s."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass  # a close with our bytes unread is a reset, which may discard the answer
    except TimeoutError:
        return "no answer"
    return received.split(b" ", 2)[1].decode() if received else "closed"


def health(server: ServerProcess) -> str:
    with connect(server) as sock:
        sock.sendall(HEAD + b"Connection: close\r\n\r\n")
        return outcome(sock)


def test_a_huge_header_line_sent_slowly_is_refused_and_memory_stays_bounded(
    start_server: StartServer,
) -> None:
    server = start_server()
    rss_before = server.rss_mib()
    sent = 0
    with connect(server) as sock:
        sock.sendall(HEAD + b"X-Huge: ")
        try:
            while sent < 32 * 1024 * 1024:  # the 230 MB, scaled down; 64 KiB is the limit
                sock.sendall(b"a" * 65536)
                sent += 65536
                time.sleep(0.002)
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert sent < 32 * 1024 * 1024, "the server read the whole 32 MiB header line"
        assert outcome(sock) in ("431", "closed")
    assert server.rss_mib() - rss_before < 16
    assert health(server) == "200"


def test_a_header_trickle_is_closed_after_the_header_timeout(
    start_server: StartServer,
) -> None:
    server = start_server(env={"WAHOOKS_HEADER_TIMEOUT": "1"})
    with connect(server) as trickle, connect(server) as partial, connect(server) as silent:
        partial.sendall(HEAD + b"X-Slow: ")
        trickle.sendall(HEAD)
        ended = False
        try:
            for _ in range(100):  # a header line every 0.1 s for 10 s at most, each one progress
                trickle.sendall(b"X-Slow: a\r\n")
                time.sleep(0.1)
        except (ConnectionResetError, BrokenPipeError):
            ended = True
        assert ended or outcome(trickle) in ("408", "closed")
        assert outcome(partial) == "408"
        assert outcome(silent) == "closed"  # nothing was asked: nothing to answer
    assert health(server) == "200"


def test_a_body_trickle_is_closed_after_the_body_timeout(
    start_server: StartServer,
) -> None:
    server = start_server(env={"WAHOOKS_BODY_TIMEOUT": "1"})
    with connect(server) as sock:
        sock.sendall(b"POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer " + str(server.token).encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        ended = False
        try:
            for _ in range(100):
                sock.sendall(b" ")
                time.sleep(0.1)
        except (ConnectionResetError, BrokenPipeError):
            ended = True
        assert ended or outcome(sock) in ("408", "closed")
    assert health(server) == "200"
    assert not [line for line in server.output if "Traceback" in line or "ERROR" in line]


def test_beyond_the_connection_cap_the_health_check_still_answers(
    start_server: StartServer,
) -> None:
    # 256 file descriptors: 400 slow clients would use them all up; the default cap keeps room.
    server = start_server(fd_limit=256)
    with ExitStack() as stack:
        for _ in range(400):
            sock = stack.enter_context(connect(server))
            sock.sendall(HEAD + b"X-Slow: ")
        assert health(server) == "200"
        assert health(server) == "200"


def test_when_every_connection_is_busy_a_new_one_is_refused_at_once(
    start_server: StartServer,
) -> None:
    server = start_server(env={"WAHOOKS_MAX_CONNECTIONS": "3"})
    with ExitStack() as stack:
        for _ in range(3):  # each one in the middle of its body: busy, not evictable
            sock = stack.enter_context(connect(server))
            sock.sendall(b"POST /api/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Authorization: Bearer " + str(server.token).encode() + b"\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                         b"Expect: 100-continue\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 100 ")  # the app is reading the body
        assert health(server) == "503"
    # The server learns of the three closes in its own time; then there is room again.
    wait_until(lambda: health(server) == "200")
