"""Media URLs go through the same target policy as webhook URLs (issue 11, item 5).

WAHA downloads a media URL itself, so a send-image with `"url": "http://169.254.169.254/..."` made
WAHA fetch the cloud metadata service. On a server started without --allow-private-targets, every
media route refuses such a URL with a 400 that names the reason, and the engine is never asked.
Both engines run here; the WAHA one drives a fake WAHA that records every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from messaging.conftest import Backend
from support.server import ServerProcess
from waha.conftest import WAHA_ENV
from waha.fake import FakeWaha
from waha.spec import WahaSpec

CONTACT = "14155550123@c.us"
HINT = ("wahooks only fetches or passes on public addresses unless started with "
        "--allow-private-targets (or WAHOOKS_ALLOW_PRIVATE_TARGETS=true)")
ROUTES = {"send-image": "sendImage", "send-document": "sendFile", "send-video": "sendVideo",
          "send-audio": "sendVoice"}
REFUSED = {
    "http://169.254.169.254/latest/meta-data/x.png":
        "media URL host 169.254.169.254 is a cloud metadata address",
    "http://127.0.0.1:8080/x.png": "media URL host 127.0.0.1 is a loopback address",
    "http://2130706433/x.png": "media URL host 2130706433 is 127.0.0.1, a loopback address",
    "http://[::1]/x.png": "media URL host ::1 is a loopback address",
    "http://10.0.0.7/x.png": "media URL host 10.0.0.7 is a private (RFC 1918) address",
    "http://localhost/x.png": "media URL host localhost is a loopback name",
    "http://metadata.google.internal/x.png":
        "media URL host metadata.google.internal is a cloud metadata name",
    "ftp://example.com/x.png": None,  # refused before the policy: not http(s)
}


@pytest.fixture(scope="module", params=["sandbox", "waha"])
def guarded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """A server with the default policy (no --allow-private-targets)."""
    database: Path = tmp_path_factory.mktemp(request.param) / "wahooks.db"
    if request.param == "sandbox":
        server = ServerProcess(database, allow_private_targets=False).start()
        yield Backend("sandbox", server, None)
        server.stop()
        return
    with FakeWaha(WahaSpec()) as fake:
        env = {f"WAHOOKS_{key.upper()}": value for key, value in WAHA_ENV.items()}
        env.update(WAHOOKS_WAHA_URL=fake.url, WAHOOKS_WAHA_API_KEY=fake.api_key)
        server = ServerProcess(database, env=env, allow_private_targets=False).start()
        try:
            yield Backend("waha", server, fake)
        finally:
            server.stop()
        assert fake.violations == []


@pytest.fixture(scope="module")
def linked(guarded: Backend) -> Iterator[tuple[httpx.Client, str]]:
    with guarded.server.client() as client:
        yield client, guarded.link(client)["id"]


@pytest.mark.parametrize("target", list(REFUSED))
def test_every_media_route_refuses_a_private_url_and_the_engine_is_never_asked(
    guarded: Backend, linked: tuple[httpx.Client, str], target: str,
) -> None:
    client, connection_id = linked
    for path in ROUTES:
        refused = client.post(f"/connections/{connection_id}/{path}",
                              json={"chatId": CONTACT, "url": target, "skipPresence": True})
        assert refused.status_code == 400, (path, refused.text)
        message = refused.json()["message"]
        reason = REFUSED[target]
        if reason is None:
            assert message == ["url must be an http or https URL"]
        else:
            assert message == f"{reason}; {HINT}", path
    if guarded.fake is not None:
        for operation in ROUTES.values():
            assert guarded.fake.calls(f"ChattingController_{operation}") == []


def test_a_public_media_url_is_still_sent(
    guarded: Backend, linked: tuple[httpx.Client, str]
) -> None:
    client, connection_id = linked
    sent = client.post(f"/connections/{connection_id}/send-image",
                       json={"chatId": CONTACT, "url": "https://93.184.215.14/a.png",
                             "skipPresence": True})
    assert sent.status_code == 201, sent.text
    if guarded.fake is not None:
        (call,) = guarded.fake.calls("ChattingController_sendImage")
        assert call.body["file"]["url"] == "https://93.184.215.14/a.png"
