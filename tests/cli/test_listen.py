"""`wahooks listen` as a real process against a real server: a sandbox message forwarded to a
local receiver, signed like a real delivery, byte for byte the body a webhook gets."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.conftest import run_process
from support.receiver import Receiver
from support.server import ServerProcess, connected_connection, free_port
from wahooks import InvalidSignature, verify_signature
from wahooks.cli.listen import listen_secret


class Listener:
    """`wahooks listen ARGS` in the background, its stdout readable line by line."""

    def __init__(self, config: Path, *args: str) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("WAHOOKS_")}
        env.update(WAHOOKS_CONFIG=str(config), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wahooks.cli", "listen", *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {self.seen}") from None
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._reader.join(10)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.stderr = self.process.stderr.read()
        self.process.stderr.close()


@pytest.fixture
def owner(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def test_listen_forwards_a_sandbox_message_signed_like_a_delivery(
    server: ServerProcess, config: Path, owner: httpx.Client
) -> None:
    assert server.token is not None
    secret = run_process(config, "listen", "--print-secret").stdout.strip()
    assert secret == listen_secret(server.token) and re.fullmatch(r"[0-9a-f]{64}", secret)
    connection = connected_connection(owner)
    with Receiver() as webhook_receiver, Receiver() as local:
        hooked = owner.post(f"/connections/{connection['id']}/webhooks",
                            json={"url": webhook_receiver.url, "events": ["message"]})
        webhook = hooked.json()
        listener = Listener(config, "--forward-to", local.url, "--events", "message")
        try:
            listener.wait_for("Ready! Listening")
            listener.wait_for(f"Signing secret: {secret}")
            answer = owner.post(f"/connections/{connection['id']}/sandbox/inbound",
                                json={"from": "14155550123@c.us", "body": "hi"})
            assert answer.status_code == 201
            line = listener.wait_for(r"message .*→ \[200\] POST")
            assert local.url in line and re.search(r"\(\d+ ms\)", line)
        finally:
            listener.stop()
        forwarded = local.wait_for(1)
        delivered = webhook_receiver.wait_for(1)

    assert len(forwarded) == 1  # --events message: message.any was not passed on
    request = forwarded[0]
    verify_signature(request.body, request.headers, secret)
    with pytest.raises(InvalidSignature):
        verify_signature(request.body, request.headers, webhook["signingSecret"])
    assert request.body == delivered[0].body  # exactly what the webhook received
    assert json.loads(request.body)["payload"]["body"] == "hi"
    headers = {key.lower(): value for key, value in request.headers.items()}
    assert headers["x-wahooks-event"] == "message"
    assert headers["x-wahooks-attempt"] == "1"
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["x-wahooks-delivery"])
    assert headers["content-type"] == "application/json"


def test_listen_without_forwarding_prints_json_lines(
    server: ServerProcess, config: Path, owner: httpx.Client
) -> None:
    connection = connected_connection(owner)
    with Receiver(statuses=[500]) as failing:
        human = Listener(config, "--forward-to", failing.url)
        machine = Listener(config, "--json")
        try:
            human.wait_for("Ready!")
            line = ""
            for _ in range(20):  # --json prints nothing until an event: send until one shows
                owner.post(f"/connections/{connection['id']}/sandbox/presence",
                           json={"from": "14155550123@c.us", "presence": "typing"})
                try:
                    line = machine.wait_for(r"presence\.update", timeout=0.5)
                    break
                except AssertionError:
                    continue
            human.wait_for(r"presence\.update .*→ \[500\]")
        finally:
            human.stop()
            machine.stop()
    frame = json.loads(line)
    assert list(frame)[:4] == ["event", "connectionId", "payload", "timestamp"]
    assert frame["connectionId"] == connection["id"]
    assert frame["envelope"]["event"] == "presence.update"


def test_listen_with_a_bad_token_fails_with_the_error_panel(
    server: ServerProcess, tmp_path: Path
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"api_url": server.base_url, "token": "wh_" + "9" * 48}))
    done = run_process(config, "listen", "--forward-to", "http://127.0.0.1:9/", timeout=30)
    assert done.returncode == 1
    assert "Invalid or revoked API token" in " ".join(done.stderr.split())
    assert "Ready" not in done.stdout  # refused before it claims to be listening
    down = tmp_path / "down.json"
    down.write_text(json.dumps({"api_url": f"http://127.0.0.1:{free_port()}",
                                "token": "wh_" + "9" * 48}))
    done = run_process(down, "listen", timeout=30)  # no retrying forever
    assert done.returncode == 1 and "API unreachable" in done.stderr
    nobody = tmp_path / "nobody.json"
    done = run_process(nobody, "listen")
    assert done.returncode == 1 and "Not logged in" in done.stderr
