"""The sandbox emits events of WAHA's exact shape: the same keys and value types, at every level, as
the hand-checked WAHA fixtures in ../shared/fixtures/waha/."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from wahooks.clock import now_ms
from wahooks.engines.base import EngineEvent, Ingested
from wahooks.engines.sandbox import SandboxEngine
from wahooks.ids import uuid7
from wahooks.models import Connection, ConnectionStatus, User
from wahooks.serialization import dumps, is_canonical


def _shape(value: Any) -> Any:
    """Keys and JSON types, recursively; null matches anything (fixtures null what may be set).
    `_data` is the engine's raw record, illustrative only (fixtures/waha/README.md): left out."""
    if isinstance(value, Mapping):
        return {key: _shape(item) for key, item in value.items() if key != "_data"}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if value is None:
        return None
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else type(value).__name__


def _same_shape(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    if ours is None or theirs is None:
        return []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: object expected"]
        problems = [f"{path}.{key}: missing" for key in theirs if key not in ours]
        problems += [f"{path}.{key}: not in WAHA's shape" for key in ours if key not in theirs]
        for key in theirs.keys() & ours.keys():
            problems += _same_shape(ours[key], theirs[key], f"{path}.{key}")
        return problems
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{path}: array expected"]
        if ours and theirs:
            return _same_shape(ours[0], theirs[0], f"{path}[0]")
        return []
    return [] if ours == theirs else [f"{path}: {ours} where WAHA has {theirs}"]


class _NoDirectory:
    """The engine driven directly, not through its routes: nothing asks about connections."""

    async def owned(self, user: User, connection_id: str) -> Connection:
        raise AssertionError("not used: the scenario drives the engine directly")

    async def observe_engine_status(
        self, session_name: str, status: str, me: Mapping[str, Any] | None, *,
        seen_at: float | None = None,
    ) -> None:
        raise AssertionError("not used: the sandbox reports statuses as events")


def _events() -> list[dict[str, Any]]:
    emitted: list[dict[str, Any]] = []

    async def sink(events: Sequence[EngineEvent]) -> Ingested:
        emitted.extend(dict(item.event) for item in events)
        return Ingested(len(events))

    async def scenario() -> None:
        engine = SandboxEngine()
        engine.attach(sink, _NoDirectory())
        now = now_ms()
        connection = Connection(uuid7(), uuid7(), "Acme", "u_a80ffc98e1d2_s_3f9c2b7a1d4e", None,
                                ConnectionStatus.SCAN_QR, "NOWEB", now, now)
        await engine.start_session(connection)
        await engine.scan(connection)
        linked = Connection(connection.id, connection.user_id, "Acme", connection.session_name,
                            "14155550199", ConnectionStatus.WORKING, "NOWEB", now, now)
        await engine.inbound(linked, "14155550123@c.us", "Hi! Is my order #4821 shipped yet?")
        await engine.presence(linked, "14155550123@c.us", "typing")

    asyncio.run(scenario())
    return emitted


EVENTS = _events()


@pytest.mark.parametrize(
    ("index", "fixture"),
    [(0, "session.status.starting"), (1, "session.status.scan_qr_code"), (2, "session.status"),
     (3, "message"), (4, "message.any"), (5, "presence.update")],
)
def test_sandbox_events_have_wahas_shape(index: int, fixture: str, shared_dir: Path) -> None:
    theirs = json.loads((shared_dir / "fixtures" / "waha" / f"{fixture}.json").read_text())
    ours = EVENTS[index]
    assert ours["event"] == theirs["event"]
    assert _same_shape(_shape(ours), _shape(theirs)) == []


def test_sandbox_event_bytes_are_what_javascript_would_write() -> None:
    for event in EVENTS:
        assert is_canonical(dumps(event))


def test_scan_links_the_account_with_me_on_the_working_event() -> None:
    working = EVENTS[2]
    assert working["payload"]["status"] == "WORKING"
    assert working["me"]["id"].endswith("@c.us")
    assert [s["status"] for s in working["payload"]["statuses"]] == [
        "STARTING", "SCAN_QR_CODE", "WORKING",
    ]
