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


class ServerProcess:
    """Start, kill and restart `wahooks serve`; the first start captures the owner's token."""

    def __init__(
        self, database: Path | str, *, env: Mapping[str, str] | None = None, role: str = "all",
        allow_private_targets: bool = True,
    ) -> None:
        self.database = database
        # Tests deliver to receivers on 127.0.0.1; a test of the target policy itself turns it off.
        self.allow_private_targets = allow_private_targets
        self.role = role
        self.port = free_port()
        self.env = {**_clean_environ(), **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.token: str | None = None
        self.output: list[str] = []
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self._ready.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wahooks.cli", "serve", "--database", str(self.database),
             "--port", str(self.port), "--role", self.role,
             *(["--allow-private-targets"] if self.allow_private_targets else [])],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("wahooks serve did not start:\n" + "".join(self.output[-50:]))
        return self

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


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
