"""The sending commands. Their server routes are being written elsewhere, so they are checked
against a recording HTTP server: the request each command makes, and its output."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.conftest import run_cli
from sdk.recorder import Recorder

CID = "0190a6b2-0000-7000-8000-000000000001"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as running:
        yield running


@pytest.fixture
def config(recorder: Recorder, tmp_path: Path) -> Path:
    path = tmp_path / "wahooks.json"
    path.write_text(json.dumps({"api_url": recorder.base_url, "token": "wh_test"}))
    return path


def _sent(recorder: Recorder, route: str) -> dict[str, object]:
    request = recorder.last()
    assert (request.method, request.path) == ("POST", f"/api/connections/{CID}/{route}")
    assert request.headers["authorization"] == "Bearer wh_test"
    body: dict[str, object] = request.json()
    return body


def test_send_text(recorder: Recorder, config: Path) -> None:
    done = run_cli(config, "connections", "send", CID, "+14155550123", "Your order shipped")
    assert done.exit_code == 0, done.output
    assert "✓ Message sent to +14155550123" in done.stdout
    assert _sent(recorder, "send") == {
        "chatId": "14155550123@c.us", "text": "Your order shipped", "skipPresence": False,
    }
    run_cli(config, "c", "send", CID, "1203630@g.us", "hi", "--skip-presence", "--reply-to", "m1")
    assert _sent(recorder, "send") == {
        "chatId": "1203630@g.us", "text": "hi", "skipPresence": True, "replyTo": "m1",
    }
    answer = json.loads(run_cli(config, "c", "send", CID, "1", "x", "--json").stdout)
    assert answer == {"success": True}


def test_send_media_from_a_url_or_a_local_file(
    recorder: Recorder, config: Path, tmp_path: Path
) -> None:
    done = run_cli(config, "connections", "send-image", CID, "14155550123",
                   "https://x.example/box.jpg", "--caption", "The box")
    assert done.exit_code == 0 and "✓ Sent to 14155550123" in done.stdout
    assert _sent(recorder, "send-image") == {
        "chatId": "14155550123@c.us", "url": "https://x.example/box.jpg", "data": None,
        "mimetype": None, "caption": "The box", "skipPresence": False,
    }
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(b"%PDF-1.4 tiny")
    done = run_cli(config, "c", "send-document", CID, "14155550123", str(invoice))
    assert "Uploading invoice.pdf (13 bytes)" in done.stdout
    assert _sent(recorder, "send-document") == {
        "chatId": "14155550123@c.us", "url": None,
        "data": base64.b64encode(b"%PDF-1.4 tiny").decode(), "mimetype": "application/pdf",
        "filename": "invoice.pdf", "caption": None, "skipPresence": False,
    }
    run_cli(config, "c", "send-document", CID, "1", str(invoice), "--filename", "May.pdf")
    assert _sent(recorder, "send-document")["filename"] == "May.pdf"
    run_cli(config, "c", "send-video", CID, "1", "https://x.example/v.mp4", "--skip-presence")
    assert _sent(recorder, "send-video")["skipPresence"] is True
    run_cli(config, "c", "send-audio", CID, "1", "https://x.example/a.ogg")
    assert _sent(recorder, "send-audio") == {
        "chatId": "1@c.us", "url": "https://x.example/a.ogg", "data": None, "mimetype": None,
        "skipPresence": False,
    }
    missing = run_cli(config, "c", "send-image", CID, "1", str(tmp_path / "nope.png"))
    assert missing.exit_code == 1 and "Cannot read" in missing.stderr


def test_send_location_and_contact(recorder: Recorder, config: Path) -> None:
    done = run_cli(config, "c", "send-location", CID, "14155550123", "52.52", "13.405",
                   "--name", "Shop", "--address", "Main St 1")
    assert "✓ Location sent to 14155550123" in done.stdout
    assert _sent(recorder, "send-location") == {
        "chatId": "14155550123@c.us", "latitude": 52.52, "longitude": 13.405, "name": "Shop",
        "address": "Main St 1", "skipPresence": False,
    }
    done = run_cli(config, "c", "send-contact", CID, "14155550123", "Jane Doe", "+14155550100")
    assert "✓ Contact sent to 14155550123" in done.stdout
    assert _sent(recorder, "send-contact") == {
        "chatId": "14155550123@c.us", "contactName": "Jane Doe", "contactPhone": "+14155550100",
        "skipPresence": False,
    }


def test_a_refused_send_is_an_error_panel(recorder: Recorder, config: Path) -> None:
    recorder.status = 503
    recorder.answer = b'{"message":"No worker assigned","error":"Service Unavailable",' \
                      b'"statusCode":503}'
    done = run_cli(config, "c", "send", CID, "1", "hi")
    assert done.exit_code == 1
    assert "No worker assigned" in done.stderr and "HTTP 503" in done.stderr
