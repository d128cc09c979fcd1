"""A real HTTP receiver on 127.0.0.1, in its own thread and event loop, that records every request.

Its behaviour is scripted: `statuses` answers the n-th request with the n-th status (then the last
one again), `headers(n)` gives the n-th answer's extra headers (e.g. Retry-After), `delay` answers
late and `hang` never answers; `answer_headers` (every answer's headers) and `answer_body` replace
the default answer's.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from aiohttp import web


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=lambda: [200])
    hang: bool = False
    delay: float = 0.0
    headers: Callable[[int], dict[str, str]] | None = None
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    answer_headers: dict[str, str] = field(default_factory=dict)
    answer_body: str | None = None

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def __enter__(self) -> Self:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._release.set)  # hung handlers return, then stop
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self.requests.append(Received(request.path, dict(request.headers), body, time.time()))
            count = len(self.requests)
        if self.hang:
            await self._release.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses[min(count, len(self.statuses)) - 1]
        extra = dict(self.answer_headers)
        if self.headers is not None:
            extra.update(self.headers(count))
        text = self.answer_body if self.answer_body is not None else (
            "ok" if status < 300 else "nope"
        )
        return web.Response(status=status, text=text, headers=extra)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count}")
