"""Both example receivers on the product page verify every delivery wahooks makes.

The page shows an Express receiver, which lets `express.json()` parse the body and signs
`JSON.stringify(req.body)`, a fresh serialisation, and a Flask receiver, which signs the raw body.
Both are copied from the page into tests/receivers/ and run here as real processes (Node and
Flask's own server); a real `wahooks serve` delivers sandbox events to them. Every delivery must be
verified on its first attempt: a receiver that rejects one answers 401, which is a wahooks bug.

The Express receiver needs its packages first: `npm ci --prefix tests/receivers/express`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.server import ServerProcess, free_port, wait_until
from wahooks.engines.sandbox import PRESENCES
from wahooks.engines.sandbox.routes import MAX_BODY_CHARS
from wahooks.serialization import dumps
from wahooks.signing import signed_headers, signing_secret

pytestmark = pytest.mark.acceptance

RECEIVERS = Path(__file__).parents[1] / "receivers"
EXPRESS = RECEIVERS / "express"
CONTACT = "14155550123@c.us"
_OUTCOME = re.compile(r"outcome: (verified|Invalid signature) (\S+)")

# `express.json()` refuses bodies over 100 kb (102,400 bytes) with 413, before the page's code
# runs, and a message event carries its text twice (`body` and `_data.message.conversation`).
# So the long texts sent to both receivers keep the event under that limit; the longest text
# the sandbox takes goes to the Flask receiver only (see LONGEST).
LONG_TEXT = ("Lorem ipsum dolor sit amet, 👋🏽 привет, 你好, مرحبا. " * 1_000)[:34_000]  # 48 kB
LONG_ESCAPES = "\x00\x1f\\\"" * 2_000  # 4 characters, 14 bytes once escaped
LONGEST = ("x" * (MAX_BODY_CHARS - 1)) + "😀"

TEXTS = [
    "Hello!",
    "",
    " ",
    "  leading and trailing  ",
    # emoji: skin tones, ZWJ sequences, flags, keycaps, variation selectors
    "👋 👋🏻 👋🏽 👋🏿 👍🏼",
    "👨‍👩‍👧‍👦 👩🏿‍💻 🧑🏻‍🤝‍🧑🏿 🏳️‍🌈 🏴‍☠️ ❤️‍🔥 👁️‍🗨️",
    "🇺🇦🇯🇵🇧🇷 🏴󠁧󠁢󠁳󠁣󠁴󠁿 1️⃣ #️⃣ *️⃣ ☺︎ ☺️",
    # scripts
    "Привет, мир! Ёлка, щётка, ъ",
    "مرحبا بالعالم \u200f\u202bنص من اليمين\u202c",
    "שלום עולם",
    "你好，世界 こんにちは世界 안녕하세요 ｶﾀｶﾅ 𠜎𠜱𠝹",
    "नमस्ते दुनिया क्षत्रिय",
    "สวัสดีชาวโลก ᚠᛇᚻ Ελληνικά",
    "e\u0301 é Z̸̢̛̗̪̈́a̵̡̛͚l̶̨̛g̷̛o̸̢",
    # astral characters without any lone surrogate
    "𝕳𝖊𝖑𝖑𝖔 𐍈 🀄 🂡 \U0001f9ff \U0010ffff",
    # quotes, backslashes, JSON and HTML inside text
    "\"double\" 'single' `back` “curly” ‘curly’ «guillemets» „low“",
    "C:\\Users\\wahooks\\new \\n is not a newline \\u0041 \\\\ \\\"",
    '{"event":"fake","payload":{"body":[1,2.0,-0,1e21]}}',
    "</script><script>alert('x')</script> <b>bold</b> &amp; &lt; &#x27; <!-- -->",
    "' OR 1=1; -- DROP TABLE deliveries; /* */",
    # control characters and the line separators JSON leaves raw but JavaScript once did not
    "line1\nline2\r\nline3\rline4\ttab\fform\bback\vvertical",
    "\x00 nul in the middle \x00",
    "".join(chr(code) for code in range(32)),
    "\x7f del \x85 nel \u2028 line separator \u2029 paragraph separator",
    "\ufeff bom \u200b\u200c\u200d zero widths \u2060 \ufffd \ufffe \uffff",
    "\u00a0\u2007\u202f\u3000 unusual spaces",
    # strings that look like other JSON values
    "123",
    "-0",
    "1.0",
    "1e21",
    "0.1",
    "9007199254740993",
    "0x1F",
    "NaN",
    "Infinity",
    "true",
    "null",
    "[]",
    "{}",
    "__proto__",
    LONG_TEXT,
    LONG_ESCAPES,
]


@dataclass
class ReceiverProcess:
    """One example receiver in its own process, every output line kept."""

    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    port: int
    output: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def start(self, timeout: float = 15.0) -> ReceiverProcess:
        self.process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, text=True, encoding="utf-8",
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self.reader.start()
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the {self.name} receiver did not start:\n{self.tail()}")
            time.sleep(0.02)
        return self

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)

    def outcomes(self) -> list[tuple[str, str]]:
        """(outcome, X-WAHooks-Delivery) for every request answered so far."""
        # Searched, not matched: a thread's outcome line can land after another's half-printed
        # "Received ..." line (print writes the text and its newline separately).
        found = (_OUTCOME.search(line) for line in list(self.output))
        return [(match[1], match[2]) for match in found if match]

    def tail(self, lines: int = 40) -> str:
        return "".join(line[:300] for line in self.output[-lines:])

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.reader is not None:
            self.reader.join(10)  # it has read everything once the pipe is at its end
        if self.process.stdout is not None:
            self.process.stdout.close()  # or the pipe is closed by the collector, with a warning


def _express(port: int, secret: str) -> ReceiverProcess:
    if not (EXPRESS / "node_modules" / "express").is_dir():
        pytest.fail(f"the Express receiver needs its packages: npm ci --prefix {EXPRESS}")
    env = {**os.environ, "SIGNING_SECRET": secret, "PORT": str(port)}
    return ReceiverProcess("express", ["node", "server.mjs"], EXPRESS, env, port)


def _flask(port: int, secret: str) -> ReceiverProcess:
    env = {**os.environ, "SIGNING_SECRET": secret, "PORT": str(port),
           "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "flask_receiver.py"]
    return ReceiverProcess("flask", command, RECEIVERS, env, port)


MAKERS: dict[str, Callable[[int, str], ReceiverProcess]] = {"express": _express, "flask": _flask}


@pytest.fixture(params=sorted(MAKERS))
def receiver_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def start_receiver(receiver_name: str) -> Iterator[Callable[[int, str], ReceiverProcess]]:
    """Start the page's receiver named by the test's parameter; stopped after the test."""
    started: list[ReceiverProcess] = []

    def start(port: int, secret: str) -> ReceiverProcess:
        receiver = MAKERS[receiver_name](port, secret)
        started.append(receiver)
        return receiver.start()

    yield start
    for receiver in started:
        receiver.stop()


def _post(receiver: ReceiverProcess, body: bytes, secret: str, delivery: str) -> httpx.Response:
    """A delivery made by hand, signed as the sender signs, to the receiver."""
    headers = signed_headers(secret, "message", body, int(time.time()))
    headers["X-WAHooks-Delivery"] = delivery
    return httpx.post(receiver.url, content=body, headers=headers, timeout=10)


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _settled_logs(client: httpx.Client, webhook_id: str, expected: int) -> list[dict[str, Any]]:
    """The webhook's logs once `expected` deliveries each have a finished first attempt."""

    def settled() -> list[dict[str, Any]] | None:
        logs: list[dict[str, Any]] = client.get(
            f"/webhooks/{webhook_id}/logs", params={"limit": 1000}
        ).json()
        done = len(logs) >= expected and all(log["attemptLog"] for log in logs)
        return logs if done else None

    result: list[dict[str, Any]] = wait_until(settled, timeout=30, interval=0.1)
    return result


def test_receiver_verifies_every_delivery(
    server: ServerProcess,
    receiver_name: str,
    start_receiver: Callable[[int, str], ReceiverProcess],
) -> None:
    texts = TEXTS + ([LONGEST] if receiver_name == "flask" else [])
    with server.client() as client:
        connection = _created(client.post("/connections"))
        port = free_port()
        webhook = _created(client.post(
            f"/connections/{connection['id']}/webhooks",
            json={"url": f"http://127.0.0.1:{port}/webhook", "events": ["*"]},
        ))
        receiver = start_receiver(port, webhook["signingSecret"])
        sandbox = f"/connections/{connection['id']}/sandbox"
        assert _created(client.post(f"{sandbox}/scan"))["status"] == "connected"
        for text in texts:
            _created(client.post(f"{sandbox}/inbound", json={"from": CONTACT, "body": text}))
        for presence in PRESENCES:
            _created(client.post(
                f"{sandbox}/presence", json={"from": CONTACT, "presence": presence}
            ))
        _created(client.post(f"/webhooks/{webhook['id']}/test"))
        expected = Counter({
            "session.status": 1, "message": len(texts), "message.any": len(texts),
            "presence.update": len(PRESENCES), "test": 1,
        })
        logs = _settled_logs(client, webhook["id"], expected.total())

    assert Counter(log["eventType"] for log in logs) == expected
    not_first_time = [
        (log["eventType"], log["status"], log["attempts"], log["lastError"])
        for log in logs if log["status"] != "delivered" or log["attempts"] != 1
    ]
    assert not_first_time == [], receiver.tail()
    # The receiver prints its outcome before it answers, but the line may still be in the pipe.
    outcomes = wait_until(lambda: len(receiver.outcomes()) >= len(logs) and receiver.outcomes())
    assert sorted(outcomes) == sorted(("verified", log["id"]) for log in logs)


def test_receiver_rejects_a_wrong_signature(
    receiver_name: str, start_receiver: Callable[[int, str], ReceiverProcess]
) -> None:
    """The negative control: the page's check really runs, so the test above can fail."""
    secret = signing_secret()
    receiver = start_receiver(free_port(), secret)
    body = dumps({"event": "message", "session": "default", "payload": {"body": "Hello!"}})
    headers = signed_headers(secret, "message", body, int(time.time()))

    genuine = _post(receiver, body, secret, "genuine")
    forged = _post(receiver, body, signing_secret(), "forged")
    tampered = httpx.post(
        receiver.url, content=body.replace(b"Hello!", b"Hell0!"),
        headers={**headers, "X-WAHooks-Delivery": "tampered"}, timeout=10,
    )
    # Signed correctly, but not in JSON.stringify's form: only the raw-body receiver accepts it,
    # which is why every body wahooks sends must already be in that form.
    spaced = _post(receiver, body.replace(b":", b": "), secret, "spaced")

    assert genuine.status_code == 200
    assert (forged.status_code, forged.text) == (401, "Invalid signature")
    assert (tampered.status_code, tampered.text) == (401, "Invalid signature")
    assert spaced.status_code == (401 if receiver_name == "express" else 200)
    assert wait_until(lambda: len(receiver.outcomes()) == 4)
    assert sorted(receiver.outcomes()) == sorted([
        ("verified", "genuine"), ("Invalid signature", "forged"),
        ("Invalid signature", "tampered"),
        ("Invalid signature" if receiver_name == "express" else "verified", "spaced"),
    ])


# The sandbox only lets a test choose a message's text, so numbers and arrays reach receivers
# only in the envelope wahooks builds (timestamps, ack, vCards, presences, statuses). What other
# engines may send is covered here: bodies written by `wahooks.serialization.dumps`, the
# serialiser every delivery body goes through, signed as the sender signs them.
ENVELOPES = [
    {"event": "message", "payload": {"body": None, "numbers": [
        0, -0.0, 1.0, -2.0, 0.5, 0.1 + 0.2, 1e20, 1e21, -1.2345e22, 1e-6, 1e-7, 1.5e-7, 5e-324,
        1.7976931348623157e308, 2**53, 2**53 + 1, -(2**63), 2**64, 10**400, float("nan"),
        float("inf"), -float("inf"),
    ]}},
    {"event": "message", "payload": {"body": "nested", "arrays": [
        [], [[]], [[[1, [2.5, [3e-7, [None, True, False, "x", {}]]]]]], [{"a": [{"b": [0.0]}]}],
    ]}},
    {"event": "message", "payload": {"body": "keys", "by_index": {
        "b": 1, "2": 2, "a": 3, "1": 4, "10": 5, "01": 6, "-1": 7, "4294967295": 8, "__proto__": 9,
    }}},
    {"event": "message", "payload": {"body": "deep", "deep": [[[[[[[[[[[[[[[[1.0]]]]]]]]]]]]]]]]}},
]


@pytest.mark.parametrize("value", ENVELOPES, ids=["numbers", "arrays", "keys", "deep"])
def test_receiver_verifies_numbers_and_nested_arrays(
    start_receiver: Callable[[int, str], ReceiverProcess], value: dict[str, Any]
) -> None:
    secret = signing_secret()
    receiver = start_receiver(free_port(), secret)

    response = _post(receiver, dumps(value), secret, "numbers")

    assert response.status_code == 200, (response.text, dumps(value))
    assert wait_until(lambda: receiver.outcomes() == [("verified", "numbers")])
