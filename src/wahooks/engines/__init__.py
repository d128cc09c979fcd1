"""WhatsApp engines: what runs the linked accounts and emits their events.

Each engine is a package (sandbox/, waha/) that owns its state, its inbound routes and how its
settings make it; the shared pieces (the protocol in base.py, route declarations, the event
envelope, outgoing messages, presence) sit here. Adding an engine is one package plus one line in
`ENGINES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wahooks.config import Settings
from wahooks.engines.base import Engine
from wahooks.engines.routes import InboundRoute
from wahooks.engines.sandbox import absent_sandbox_routes, build_sandbox
from wahooks.engines.waha import WahaStorage, build_waha

EngineStorage = WahaStorage
"""Every table some engine needs (a protocol; the storage bundle provides them all)."""


@dataclass(frozen=True, slots=True)
class EngineChoice:
    build: Callable[[Settings, EngineStorage], Engine]
    absent_routes: Callable[[], list[InboundRoute]] = list
    """What the engine's own paths answer while another engine runs (default: unknown route)."""


ENGINES: dict[str, EngineChoice] = {
    "sandbox": EngineChoice(build_sandbox, absent_sandbox_routes),
    "waha": EngineChoice(build_waha),
}


def build_engine(settings: Settings, storage: EngineStorage) -> Engine:
    return ENGINES[settings.engine].build(settings, storage)


def absent_routes(running: str) -> list[InboundRoute]:
    """The other engines' paths, answered as they ask while `running` is the engine."""
    return [route for name, choice in ENGINES.items() if name != running
            for route in choice.absent_routes()]
