"""The WAHA servers wahooks drives, and where a new session goes.

A session stays on the server it was created on (its WhatsApp login lives there); a new one goes
to the server with room whose share of its capacity is lowest, reachable servers first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wahooks.engines.waha.client import WahaClient
from wahooks.errors import EngineUnavailable


@dataclass
class WahaServer:
    url: str
    capacity: int
    client: WahaClient
    reachable: bool = True


def waha_servers(urls: Sequence[str], keys: Sequence[str], capacities: Sequence[int], *,
                 timeout: float) -> list[WahaServer]:
    """The configured servers: a single key or capacity applies to every URL."""
    servers = []
    for index, url in enumerate(urls):
        key = keys[index] if len(keys) > 1 else (keys[0] if keys else None)
        capacity = capacities[index] if len(capacities) > 1 else capacities[0]
        servers.append(WahaServer(url, capacity, WahaClient(url, key, timeout=timeout)))
    return servers


def least_loaded(servers: Sequence[WahaServer], load: Mapping[str, int]) -> WahaServer:
    """The server with room whose share of its capacity is lowest; reachable ones first."""
    with_room = [server for server in servers if load[server.url] < server.capacity]
    if not with_room:
        raise EngineUnavailable("Every WAHA server is at capacity; add a server or raise its capacity")
    reachable = [server for server in with_room if server.reachable] or with_room
    return min(reachable, key=lambda server: load[server.url] / server.capacity)
