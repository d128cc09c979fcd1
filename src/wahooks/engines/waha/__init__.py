"""The WAHA engine: WhatsApp sessions run by WAHA servers, fed back through a signed webhook."""

from __future__ import annotations

from typing import Protocol

from wahooks.config import Settings
from wahooks.engines.waha.engine import WahaEngine
from wahooks.engines.waha.events import EventIdStore, signature_matches
from wahooks.engines.waha.reconcile import ConnectionLister, Exclusive
from wahooks.engines.waha.routes import INGEST_PATH
from wahooks.engines.waha.servers import waha_servers
from wahooks.engines.waha.sessions import WEBHOOK_RETRIES, WahaSessionStore

__all__ = ["INGEST_PATH", "WEBHOOK_RETRIES", "WahaEngine", "WahaSessionStore", "WahaStorage",
           "build_waha", "signature_matches", "waha_servers"]


class WahaTables(WahaSessionStore, EventIdStore, Protocol):
    """The engine's own tables: its sessions and the event ids it has taken."""


class WahaStorage(Protocol):
    """The tables the WAHA engine reads and writes."""

    @property
    def waha_sessions(self) -> WahaTables: ...
    @property
    def connections(self) -> ConnectionLister: ...
    @property
    def processes(self) -> Exclusive: ...


def build_waha(settings: Settings, storage: WahaStorage) -> WahaEngine:
    """The engine the `waha_*` settings describe."""
    servers = waha_servers(
        settings.waha_url, settings.waha_api_key, settings.waha_capacity,
        timeout=settings.waha_timeout,
    )
    return WahaEngine(storage.waha_sessions, servers, storage.connections, storage.processes,
                      ingest_url=settings.ingest_base_url,
                      reconcile_interval=settings.waha_reconcile_interval,
                      event_ids=storage.waha_sessions,
                      event_window=settings.waha_event_window,
                      max_event_bytes=settings.waha_max_event_bytes)
