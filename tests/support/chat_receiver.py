"""A real receiver on 127.0.0.1 that checks per-chat ordering as deliveries arrive.

Each delivery is a sandbox `message` whose body is its number in its chat (0, 1, 2, ...) and whose
`from` is the chat. The receiver fails some attempts, deterministically: by a hash of the chat,
the number and the attempt (`X-WAHooks-Attempt`), so a run is the same whatever the timing; and it
records what strict per-chat ordering forbids: a second request of a chat arriving while one is
being answered (`overlaps`), and a request of a chat for an earlier message than one it already
got (`regressions`: each attempt of a chat must be for the same message as the one before, until
that one ends, or for a later one).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import orjson
from aiohttp import web

# Fails attempt `attempt` of message `number` of `chat`? The default: a quarter of the first three
# attempts (so with five retries nothing is dead-lettered, even with an interrupted attempt).
FailRule = Callable[[str, int, int], bool]


def some_early_attempts(chat: str, number: int, attempt: int) -> bool:
    digest = hashlib.blake2b(f"{chat}:{number}:{attempt}".encode(), digest_size=1).digest()
    return attempt <= 3 and digest[0] % 4 == 0


@dataclass
class ChatReceiver:
    fails: FailRule = some_early_attempts
    delay: float = 0.0
    port: int = 0
    # per chat: (number, attempt, answered 2xx) of every request, in arrival order
    log: dict[str, list[tuple[int, int, bool]]] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()
        self._answering: set[str] = set()
        self._requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    @property
    def requests(self) -> int:
        return self._requests

    def delivered(self) -> dict[str, list[int]]:
        """Per chat, the numbers answered 2xx, in arrival order, a repeat in a row counted once
        (a process killed after the answer and before recording it sends it again)."""
        with self._lock:
            found: dict[str, list[int]] = {}
            for chat, entries in self.log.items():
                numbers = found.setdefault(chat, [])
                for number, _, ok in entries:
                    if ok and (not numbers or numbers[-1] != number):
                        numbers.append(number)
            return found

    def __enter__(self) -> Self:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        payload = orjson.loads(await request.read())["payload"]
        chat, number = payload["from"], int(payload["body"])
        attempt = int(request.headers["X-WAHooks-Attempt"])
        ok = not self.fails(chat, number, attempt)
        with self._lock:
            self._requests += 1
            if chat in self._answering:
                self.overlaps.append(f"{chat} #{number} attempt {attempt}")
            self._answering.add(chat)
            entries = self.log.setdefault(chat, [])
            if entries and number < entries[-1][0]:
                self.regressions.append(f"{chat} #{number} after #{entries[-1][0]}")
            entries.append((number, attempt, ok))
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            with self._lock:
                self._answering.discard(chat)
        return web.Response(status=200 if ok else 500, text="ok" if ok else "failed on purpose")
