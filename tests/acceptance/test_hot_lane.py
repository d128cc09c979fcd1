"""The ingest routes answered in the HTTP protocol itself (api/hot_lane.py), spoken to over a raw
socket: requests pipelined behind each other, HTTP/1.0, chunked and `Expect: 100-continue`
bodies, and a body over the limit all get the answers the usual path gives, in order, and every
event the lane acknowledges is stored.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.server import ServerProcess, wait_until

CONTACT = "14155550123@c.us"


class Linked:
    def __init__(self, server: ServerProcess, connection_id: str, webhook_id: str) -> None:
        self.server = server
        self.connection_id = connection_id
        self.webhook_id = webhook_id

    @property
    def inbound(self) -> str:
        return f"/api/connections/{self.connection_id}/sandbox/inbound"

    def post(self, text: str, *, extra: str = "", version: str = "1.1",
             path: str | None = None) -> bytes:
        body = json.dumps({"from": CONTACT, "body": text}).encode()
        return (
            f"POST {path or self.inbound} HTTP/{version}\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.server.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode() + body

    def stored(self) -> list[str]:
        """The texts of the message events stored for the webhook."""
        with self.server.client() as client:
            logs = client.get(f"/webhooks/{self.webhook_id}/logs")
            assert logs.status_code == 200, logs.text
            return sorted(entry["payload"]["payload"]["body"] for entry in logs.json())


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[Linked]:
    server = ServerProcess(tmp_path / "wahooks.db").start()
    try:
        with server.client() as client:
            connection = client.post("/connections").json()
            # Nobody listens on port 9: the deliveries stay stored, retrying.
            webhook = client.post(f"/connections/{connection['id']}/webhooks", json={
                "url": "http://127.0.0.1:9/webhook", "events": ["message"],
            }).json()
            scanned = client.post(f"/connections/{connection['id']}/sandbox/scan")
            assert scanned.status_code == 201, scanned.text
        yield Linked(server, connection["id"], webhook["id"])
        assert not [line for line in server.output if "Traceback" in line]
    finally:
        server.stop()


def exchange(linked: Linked, data: bytes) -> bytes:
    """Send `data` in one write and read until the server closes the connection, which every
    exchange here asks for (its last request says `Connection: close` or is HTTP/1.0): a server
    that kept it open would leave it to the 5 s keep-alive timeout, beyond this read's."""
    with socket.create_connection(("127.0.0.1", linked.server.port), timeout=4) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def responses(raw: bytes) -> list[tuple[int, dict[str, str], Any]]:
    """Each answer in `raw`, in order: status, headers (lower-case names) and JSON body."""
    found = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ")[1])
        headers = dict(line.lower().split(": ", 1) for line in lines)
        length = int(headers.get("content-length", "0"))
        body, raw = raw[:length], raw[length:]
        found.append((status, headers, json.loads(body) if body else None))
    return found


def test_pipelined_requests_are_answered_in_order_and_every_acknowledged_event_is_stored(
    linked: Linked,
) -> None:
    missing = linked.inbound.replace(linked.connection_id, "00000000-0000-0000-0000-000000000000")
    answers = responses(exchange(linked, b"".join([
        linked.post("one"),
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        linked.post("two"),
        linked.post("three", path=missing),
        linked.post("four", extra="Connection: close\r\n"),
    ])))
    assert [status for status, _, _ in answers] == [201, 200, 201, 404, 201]
    assert answers[3][2] == {"statusCode": 404, "message": "Connection not found",
                             "error": "Not Found"}
    assert answers[-1][1]["connection"] == "close"
    assert all(headers["content-type"] == "application/json" for _, headers, _ in answers)
    assert wait_until(lambda: linked.stored() == ["four", "one", "two"] or None)


def test_an_http_1_0_request_is_answered_and_closed(linked: Linked) -> None:
    [(status, headers, body)] = responses(exchange(linked, linked.post("old", version="1.0")))
    assert status == 201 and set(body) == {"id"}
    assert headers["connection"] == "close"
    assert wait_until(lambda: linked.stored() == ["old"] or None)


def test_chunked_and_100_continue_bodies_get_the_same_answers(linked: Linked) -> None:
    body = json.dumps({"from": CONTACT, "body": "chunked"}).encode()
    chunked = (
        f"POST {linked.inbound} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {linked.server.token}\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{len(body):x}\r\n"
    ).encode() + body + b"\r\n0\r\n\r\n"
    continued = linked.post("continued", extra="Expect: 100-continue\r\nConnection: close\r\n")
    raw = exchange(linked, chunked + continued)
    assert raw.count(b"HTTP/1.1 100 Continue\r\n\r\n") == 1
    answers = responses(raw.replace(b"HTTP/1.1 100 Continue\r\n\r\n", b""))
    assert [status for status, _, _ in answers] == [201, 201]
    assert wait_until(lambda: linked.stored() == ["chunked", "continued"] or None)


def test_a_declared_length_over_the_limit_is_refused_without_reading_it(linked: Linked) -> None:
    head = (
        f"POST {linked.inbound} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {linked.server.token}\r\nContent-Length: {60 * 1024 * 1024}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    [(status, _, body)] = responses(exchange(linked, head))
    assert status == 413
    assert body["message"] == f"The request body is over {50 * 1024 * 1024} bytes"


def test_a_bad_token_on_the_lane_gets_the_apis_401(linked: Linked) -> None:
    request = linked.post("nope", extra="Connection: close\r\n").replace(
        str(linked.server.token).encode(), b"not-a-token"
    )
    [(status, _, body)] = responses(exchange(linked, request))
    assert status == 401 and body["statusCode"] == 401
    assert linked.stored() == []


def test_an_event_whose_client_left_before_the_answer_is_still_stored(linked: Linked) -> None:
    with socket.create_connection(("127.0.0.1", linked.server.port), timeout=10) as sock:
        sock.sendall(linked.post("left"))
        sock.shutdown(socket.SHUT_RDWR)
    assert wait_until(lambda: linked.stored() == ["left"] or None)
    assert responses(exchange(linked, linked.post("after", extra="Connection: close\r\n")))[0][0] == 201
