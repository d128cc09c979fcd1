"""What recording an attempt's request headers costs, stored whole or as the parts that vary.

    .venv/bin/python bench/request_headers.py [--attempts N] [--rounds 5]

Per attempt on the hot path the sender signs the body and builds its header block; then the
outcome writer turns what it recorded into the attempts row's text. Three ways are timed, each
from the signing on (process CPU per attempt, median and best of the rounds, alternating so they
share the noise), with the bytes each one stores:

- `none`: sign and build the block only (what an attempt cost before headers were recorded);
- `whole`: also keep the whole block (the client's Host, User-Agent, Connection and
  Content-Length around it) and store it as a JSON list of pairs;
- `parts` (what wahooks does): keep a `SentRequest` (timestamp, signatures, Host, User-Agent) and
  store `wahooks.storage.request_headers.sent_request_json` of it.

The rebuild on reading (`request_headers`) is timed too: it runs per attempt shown, not per attempt
made. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import orjson

from wahooks.ids import uuid7
from wahooks.models import SentRequest
from wahooks.signing import SIGNATURE_HEADER, STANDARD_SIGNATURE_HEADER, signed_headers
from wahooks.storage.request_headers import request_headers, sent_request_json

SECRET = "5f" * 32
BODY = orjson.dumps({"event": "message", "session": "s", "payload": {
    "id": "false_1234567890@c.us_3EB0ABCDEF", "from": "1234567890@c.us", "body": "hello " * 30,
}})
HOST, USER_AGENT = "receiver.example.com:8443", "wahooks/0.1.0"
DELIVERY_ID = uuid7()


def _block() -> tuple[int, dict[str, str]]:
    timestamp = int(time.time())
    headers = signed_headers(SECRET, "message", BODY, timestamp, message_id=DELIVERY_ID)
    headers["X-WAHooks-Delivery"] = DELIVERY_ID
    headers["X-WAHooks-Attempt"] = "1"
    return timestamp, headers


def none() -> str | None:
    _, headers = _block()
    list(headers.items())
    return None


def whole() -> str | None:
    _, headers = _block()
    sent = list(headers.items())
    kept = (("Host", HOST), ("User-Agent", USER_AGENT), ("Connection", "keep-alive"), *sent,
            ("Content-Length", str(len(BODY))))
    return orjson.dumps(kept).decode()


def parts() -> str | None:
    timestamp, headers = _block()
    list(headers.items())
    request = SentRequest(timestamp, headers[SIGNATURE_HEADER],
                          headers[STANDARD_SIGNATURE_HEADER], HOST, USER_AGENT)
    return sent_request_json(request)


def _cpu_per_call(work: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ways = {"none": none, "whole": whole, "parts": parts}
    figures: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, work in ways.items():
            figures[name].append(_cpu_per_call(work, args.attempts))
    base = statistics.median(figures["none"])
    print(f"{'way':<6} {'median µs':>10} {'best µs':>8} {'over none':>10} {'stored bytes':>13}")
    for name, work in ways.items():
        median = statistics.median(figures[name])
        stored = work()
        print(f"{name:<6} {median:>10.2f} {min(figures[name]):>8.2f} {median - base:>+10.2f}"
              f" {len(stored or ''):>13}")
    text = parts()
    rebuild = [_cpu_per_call(lambda: request_headers(
        text, delivery_id=DELIVERY_ID, event_type="message", attempt=1, body_length=len(BODY)),
        args.attempts // 4) for _ in range(args.rounds)]
    print(f"rebuild on reading: {statistics.median(rebuild):.2f} µs per attempt shown")


if __name__ == "__main__":
    main()
