"""The SDK client the tools call, plus the sandbox engine's two routes."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from wahooks.client import AsyncWAHooks


class ApiClient(AsyncWAHooks):
    """The async SDK plus the sandbox engine's simulations, which the SDK does not cover (the
    official client has no sandbox)."""

    def sandbox_scan(self, connection_id: str) -> Awaitable[Any]:
        return self._call("POST", f"/connections/{connection_id}/sandbox/scan")

    def sandbox_inbound(self, connection_id: str, sender: str, body: str) -> Awaitable[Any]:
        return self._call(
            "POST", f"/connections/{connection_id}/sandbox/inbound",
            json={"from": sender, "body": body},
        )
