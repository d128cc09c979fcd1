"""The sandbox engine: simulated WhatsApp accounts, driven through its own inbound routes."""

from __future__ import annotations

from wahooks.config import Settings
from wahooks.engines.sandbox.engine import SandboxEngine
from wahooks.engines.sandbox.payloads import PRESENCES
from wahooks.engines.sandbox.routes import absent_sandbox_routes

__all__ = ["PRESENCES", "SandboxEngine", "absent_sandbox_routes", "build_sandbox"]


def build_sandbox(settings: Settings, storage: object) -> SandboxEngine:
    """The sandbox keeps its state in memory and in the connection rows: no table of its own."""
    return SandboxEngine(public_url=settings.ingest_base_url)
