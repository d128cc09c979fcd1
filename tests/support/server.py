"""A real `wahooks serve` subprocess on a free port and its own SQLite file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

_TOKEN = re.compile(r"\b(wh_[0-9a-f]{48})\b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PortTaken(RuntimeError):
    """The server's port was taken by another process before the server bound it."""


class ServerProcess:
    """Start, kill and restart `wahooks serve`; the first start captures the owner's token."""

    def __init__(
        self, database: Path | str, *, env: Mapping[str, str] | None = None, role: str = "all",
        fd_limit: int | None = None, allow_private_targets: bool = True,
    ) -> None:
        self.database = database
        # Tests deliver to receivers on 127.0.0.1; a test of the target policy itself turns it off.
        self.allow_private_targets = allow_private_targets
        self.role = role
        self.fd_limit = fd_limit  # soft and hard RLIMIT_NOFILE of the server, when given
        self.port = free_port()
        self.env = {**_clean_environ(), **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.token: str | None = None
        self.output: list[str] = []
        self._ready = threading.Event()
        self._ended = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        # free_port() releases the port before the server binds it, so another process may take
        # it in between: a first start that finds its port taken tries another one. (A restart
        # keeps its port: the tests that restart a server depend on it.)
        for _ in range(4):
            try:
                return self._start(timeout)
            except _PortTaken:
                if self.token is not None:
                    raise
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> ServerProcess:
        self._ready.clear()
        self._ended = False
        self.process = subprocess.Popen(
            [*self._python(), "-m", "wahooks.cli", "serve", "--database", str(self.database),
             "--port", str(self.port), "--role", self.role,
             *(["--allow-private-targets"] if self.allow_private_targets else [])],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        started = self._ready.wait(timeout) and not self._ended
        if not started:
            self.stop()
            tail = "".join(self.output[-50:])
            if "already in use" in tail:
                raise _PortTaken(tail)
            raise RuntimeError("wahooks serve did not start:\n" + tail)
        return self

    def _python(self) -> list[str]:
        if self.fd_limit is None:
            return [sys.executable]
        # Lower the limit in a first interpreter, which then becomes the server (exec keeps it).
        launcher = (f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE,"
                    f" ({self.fd_limit}, {self.fd_limit})); os.execv(sys.executable, sys.argv[1:])")
        return [sys.executable, "-c", launcher, sys.executable]

    def rss_mib(self) -> float:
        """The server's resident memory now."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc/<pid>/status")

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line)
            match = _TOKEN.search(line)
            if match and self.token is None:
                self.token = match.group(1)
            if "Uvicorn running" in line or "wahooks worker running" in line:
                self._ready.set()
        process.stdout.close()
        self._ended = True
        self._ready.set()  # the process ended: whoever waits for it to start need not wait on

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self._reader.join(10)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.base_url + "/api", headers=headers, timeout=30)


def _clean_environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHOOKS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def connected_connection(client: httpx.Client) -> dict[str, Any]:
    """A new sandbox connection, scanned and connected."""
    created = client.post("/connections")
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]
    scanned = client.post(f"/connections/{connection_id}/sandbox/scan")
    assert scanned.status_code == 201, scanned.text
    body: dict[str, Any] = scanned.json()
    assert body["status"] == "connected"
    return body


def message_webhook(client: httpx.Client, connection_id: str, url: str) -> dict[str, Any]:
    """A webhook of the connection's `message` events to `url`, as the API returns it."""
    created = client.post(
        f"/connections/{connection_id}/webhooks", json={"url": url, "events": ["message"]}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def contact_writes(client: httpx.Client, connection_id: str, text: str) -> None:
    """A contact writes `text` to a sandbox connection (its `message` event is ingested)."""
    sent = client.post(
        f"/connections/{connection_id}/sandbox/inbound",
        json={"from": "14155550123@c.us", "body": text},
    )
    assert sent.status_code == 201, sent.text


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
