"""On the WAHA engine the sandbox's routes are not served: they answer 404 with a message that
says why, while WAHA's ingest route is."""

from __future__ import annotations

import uuid

from api.contract import assert_error
from support.server import ServerProcess

SANDBOX_ONLY = "The sandbox routes exist only when the sandbox engine runs"


def test_the_sandbox_routes_answer_404_on_waha(waha_server: ServerProcess) -> None:
    with waha_server.client() as client:
        connection_id = client.post("/connections").json()["id"]
        for action, body in [("scan", None), ("inbound", {"from": "14155550123@c.us", "body": "Hi"}),
                             ("presence", {"from": "14155550123@c.us", "presence": "typing"})]:
            response = client.post(f"/connections/{connection_id}/sandbox/{action}", json=body)
            assert_error(response, 404, SANDBOX_ONLY)
        unknown = client.post(f"/connections/{uuid.uuid4()}/sandbox/scan")
        assert_error(unknown, 404, SANDBOX_ONLY)
