"""WAHA's ingest route for the benchmark: a fake WAHA that wahooks drives while a connection is made
and linked, so that the load generator can then sign events with that session's key and post them
to `/api/events/waha` one per request, as a WAHA server does.

The fake WAHA (tests/waha/fake.py, checked against WAHA's OpenAPI document) runs on a thread of the
bench's own process: it answers wahooks' session calls (create, start, the reconcile loop's
listing) and is idle during the measured load, which goes from the load generator straight to
wahooks. Not supported: more than one WAHA server, events other than `message`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from waha.fake import FIXTURES, FakeWaha  # noqa: E402
from waha.spec import WahaSpec  # noqa: E402

PHONE = "14155550199"


@dataclass(frozen=True)
class LinkedSession:
    """A wahooks connection on the WAHA engine, linked: what the load generator needs to sign."""

    connection_id: str
    session: str
    hmac_key: str


def start_fake_waha() -> FakeWaha:
    return FakeWaha(WahaSpec()).__enter__()


def waha_env(fake: FakeWaha) -> dict[str, str]:
    """wahooks' settings to drive this fake WAHA (no typing pause: the bench sends nothing)."""
    return {"WAHOOKS_ENGINE": "waha", "WAHOOKS_WAHA_URL": fake.url,
            "WAHOOKS_WAHA_API_KEY": fake.api_key, "WAHOOKS_PRESENCE_DELAY_FACTOR": "0"}


def linked_session(client: httpx.Client, fake: FakeWaha, timeout: float = 20.0) -> LinkedSession:
    """Create a connection, scan its QR code on the fake WAHA, wait until wahooks says connected."""
    created = client.post("/connections")
    if created.status_code != 201:
        raise RuntimeError(f"connection not created: {created.status_code} {created.text}")
    connection_id = created.json()["id"]
    session = _wait_status(client, connection_id, "scan_qr", timeout)["sessionName"]
    fake.scan(session, phone=PHONE)
    _wait_status(client, connection_id, "connected", timeout)
    key = fake.session(session).config["webhooks"][0]["hmac"]["key"]
    return LinkedSession(connection_id, session, str(key))


def _wait_status(client: httpx.Client, connection_id: str, status: str,
                 timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: dict[str, Any] = client.get(f"/connections/{connection_id}").json()
        if found["status"] == status:
            return found
        time.sleep(0.05)
    raise RuntimeError(f"connection {connection_id} not {status} within {timeout:g} s")


def message_template() -> dict[str, Any]:
    """The `message` fixture: the load generator fills in id, timestamp, session and body."""
    event: dict[str, Any] = json.loads((FIXTURES / "message.json").read_text("utf-8"))
    return event
