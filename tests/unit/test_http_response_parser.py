"""ResponseParser, the part of the HTTP client that turns a receiver's bytes into an answer.

Property: however the bytes of a valid answer are split across reads, and however its header
names are cased and its values padded, the parser finds the same status, headers and body.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahooks.delivery.http_response import HttpResponse, ProtocolError, ResponseParser

TOKEN = string.ascii_letters + string.digits + "-"
VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))


@st.composite
def casing(draw: st.DrawFn, name: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if up else c.lower() for c, up in zip(name, flips, strict=True))


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, HttpResponse, bool]:
    """(the bytes on the wire, the answer they mean, whether the connection closes to end it)."""
    status = draw(st.sampled_from([200, 201, 202, 301, 400, 404, 410, 500, 503]))
    reason = draw(st.sampled_from(["OK", "Not Found", "Service Unavailable", "x y z", ""]))
    body = draw(st.binary(max_size=3000))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    names = draw(
        st.lists(st.text(TOKEN, min_size=1, max_size=12).map(lambda n: "X-" + n), max_size=5)
    )
    values = draw(
        st.lists(
            st.text(VISIBLE + " ", max_size=40).map(str.strip),
            min_size=len(names),
            max_size=len(names),
        )
    )
    fields = list(zip(names, values, strict=True))
    if framing == "length":
        fields.append((draw(casing("content-length")), str(len(body))))
    elif framing == "chunked":
        fields.append((draw(casing("transfer-encoding")), draw(casing("chunked"))))
    pad = st.sampled_from(["", " ", "\t", "  \t"])
    # llhttp reads "chunked<TAB>" as an unknown coding (a documented limitation): spaces only there
    after = st.sampled_from(["", " ", "  "]) if framing == "chunked" else pad
    head = f"HTTP/1.1 {status} {reason}" if reason else f"HTTP/1.1 {status}"
    lines = [head] + [f"{n}:{draw(pad)}{v}{draw(after)}" for n, v in fields]
    wire = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
    if draw(st.booleans()):
        wire = b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n" + wire
    if framing == "chunked":
        wire += chunked(draw, body)
    else:
        wire += body
    expected = HttpResponse(status, reason, tuple(fields), body)
    return wire, expected, framing == "close"


def chunked(draw: st.DrawFn, body: bytes) -> bytes:
    out = b""
    rest = body
    while rest:
        size = draw(st.integers(min_value=1, max_value=len(rest)))
        extension = draw(st.sampled_from([b"", b";a=b", b";flag"]))
        hexsize = draw(st.sampled_from(["{:x}", "{:X}", "{:04x}"])).format(size).encode()
        out += hexsize + extension + b"\r\n" + rest[:size] + b"\r\n"
        rest = rest[size:]
    trailer = draw(st.sampled_from([b"", b"X-Checksum: 1\r\n"]))
    return out + b"0\r\n" + trailer + b"\r\n"


def split(draw: st.DrawFn, wire: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    edges = [0, *cuts, len(wire)]
    return [wire[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def parse(pieces: list[bytes], until_close: bool, max_body: int = 1 << 20) -> HttpResponse:
    parser = ResponseParser(max_body)
    response = None
    for piece in pieces:
        assert response is None, "complete before the last byte"
        response = parser.feed(piece)
    if until_close:
        assert response is None
        response = parser.feed_eof()
    assert response is not None
    assert parser.keep_alive is not until_close
    return response


@given(st.data())
def test_any_split_of_a_valid_answer_parses_the_same(data: st.DataObject) -> None:
    wire, expected, until_close = data.draw(answers())
    pieces = split(data.draw, wire)
    assert parse(pieces, until_close) == expected
    assert parse([wire], until_close) == expected


@given(st.data(), st.integers(min_value=0, max_value=100))
def test_a_body_past_the_limit_is_cut_and_the_connection_not_kept(
    data: st.DataObject, limit: int
) -> None:
    wire, expected, until_close = data.draw(answers())
    parser = ResponseParser(limit)
    response = None
    for piece in split(data.draw, wire):
        response = parser.feed(piece)
        if response is not None:
            break
    if response is None:
        response = parser.feed_eof()
    assert response.body == expected.body[:limit]
    assert response.truncated == (len(expected.body) > limit)
    if response.truncated:
        assert not parser.keep_alive


def test_the_parser_is_reused_for_the_next_answer_on_the_connection() -> None:
    parser = ResponseParser(100)
    assert parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n") == HttpResponse(204, "No Content", (), b"")
    assert parser.keep_alive
    parser.reset()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n") is None
    assert parser.feed(b"!") == HttpResponse(200, "OK", (("Content-Length", "1"),), b"!")


def test_bytes_after_a_complete_answer_mean_the_connection_is_not_kept() -> None:
    parser = ResponseParser(100)
    response = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n")
    assert response is not None and response.body == b"ok"
    assert not parser.keep_alive


def test_connection_close_and_http10_are_not_kept() -> None:
    for wire in (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
    ):
        parser = ResponseParser(100)
        assert parser.feed(wire) is not None
        assert not parser.keep_alive


@pytest.mark.parametrize(
    ("fed", "words"),
    [
        (b"", "closed before any response"),
        (b"HTTP/1.1 200 OK\r\n", "middle of the response headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "middle of the response body"),
    ],
)
def test_a_close_before_the_end_is_a_protocol_error(fed: bytes, words: str) -> None:
    parser = ResponseParser(100)
    if fed:
        assert parser.feed(fed) is None
    with pytest.raises(ProtocolError, match=words):
        parser.feed_eof()


def test_a_head_that_never_ends_is_refused() -> None:
    parser = ResponseParser(100)
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProtocolError, match="longer than"):
        for _ in range(100):
            parser.feed(b"X-Filler: " + b"a" * 1000 + b"\r\n")
