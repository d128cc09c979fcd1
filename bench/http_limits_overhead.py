"""What the HTTP limits (wahooks.api.http_limits) cost per request, against uvicorn's own protocol.

    .venv/bin/python bench/http_limits_overhead.py [--requests N] [--rounds 5]

One process, uvloop, no sockets: each protocol class gets a transport that discards what it is
given, and is fed N keep-alive `GET /api/health` requests (one read each, as nearly every request
arrives) answered by a two-line ASGI app; the figure is process CPU per request. The classes
alternate within each round so both see the same noise; the table shows the median and best round.
What this isolates is the protocol layer alone: in `wahooks serve` the application and the
database cost far more per request. It never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from wahooks.api.http_limits import HttpLimits, limited_protocol

REQUEST = (b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:3001\r\nUser-Agent: bench\r\n"
           b"Accept: */*\r\nAccept-Encoding: gzip\r\n\r\n")


class Sink(asyncio.Transport):
    """A connected transport that drops whatever is written."""

    def __init__(self) -> None:
        super().__init__()
        self._closing = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 3001), "peername": ("127.0.0.1", 50000)}.get(
            name, default)


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def cpu_per_request(protocol_class: type[HttpToolsProtocol], requests: int) -> float:
    config = Config(app=app, http=protocol_class, lifespan="off", log_config=None)
    config.load()
    state = ServerState()
    protocol = protocol_class(config=config, server_state=state, app_state={},
                              _loop=asyncio.get_running_loop())
    protocol.connection_made(Sink())
    started = time.process_time()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        for task in list(state.tasks):
            await task
    spent = time.process_time() - started
    protocol.connection_lost(None)
    return spent / requests * 1e6


async def run(requests: int, rounds: int) -> None:
    limited = limited_protocol(HttpLimits(max_header_bytes=65536, header_timeout=10.0,
                                          body_timeout=60.0, max_connections=10000))
    classes: dict[str, type[HttpToolsProtocol]] = {"uvicorn": HttpToolsProtocol,
                                                   "limited": limited}
    figures: dict[str, list[float]] = {name: [] for name in classes}
    await cpu_per_request(limited, requests // 10)  # warm up both code paths
    await cpu_per_request(HttpToolsProtocol, requests // 10)
    for _ in range(rounds):
        for name, protocol_class in classes.items():
            figures[name].append(await cpu_per_request(protocol_class, requests))
    for name, values in figures.items():
        print(f"  {name:<8} median {statistics.median(values):6.2f} us/request"
              f"  best {min(values):6.2f} us/request", flush=True)
    extra = statistics.median(figures["limited"]) - statistics.median(figures["uvicorn"])
    print(f"  limits add {extra:+.2f} us per request (median of {rounds} rounds of {requests})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
