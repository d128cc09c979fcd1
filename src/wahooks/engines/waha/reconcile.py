"""Keeps WAHA's sessions and wahooks' connections in step when events cannot (compat.md 5).

Every interval, for each WAHA server: list its sessions (`GET /api/sessions?all=true`) and compare.

- A live connection whose session WAHA lost (WAHA restarted without its data, or it was down when
  the connection was made) gets it created again, with the same name and key.
- A session WAHA has STOPPED is started again: a plain start keeps the phone linked, where the
  original did a full reset (logout) and made the user scan again.
- A session that FAILED after it was linked is restarted at most once per `restart_backoff`; one
  that failed waiting for a scan stays failed until someone asks for a new QR code. The original
  reset every failed session on every poll, churning QR codes nobody looked at.
- A session whose webhook no longer points at us (the public URL changed) gets its config updated.
- Otherwise the status WAHA reports is applied, with the phone number from `me` (an event lost
  while wahooks was down shows up here).
- A session whose connection was deleted while WAHA was unreachable is deleted now. Sessions that
  wahooks never made are left alone (another application may share the server); the original
  stopped them, and with them its own sessions that were just being reset.

An unreachable server is skipped (and marked so new connections go elsewhere) until it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from wahooks.engines.waha.client import segment
from wahooks.engines.waha.servers import WahaServer
from wahooks.errors import EngineUnavailable, WahooksError
from wahooks.models import Connection, ConnectionStatus
from wahooks.storage.records import WahaSession

log = logging.getLogger(__name__)

RESTART_BACKOFF = 600.0


class ConnectionLister(Protocol):
    async def list_connections(
        self, user_id: str | None = None, *, include_stopped: bool = False
    ) -> list[Connection]: ...


class Exclusive(Protocol):
    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Whether this process may do the named job now (one process at a time)."""
        ...


class SessionLister(Protocol):
    async def list_waha_sessions(self) -> list[WahaSession]: ...


class SessionLifecycle(Protocol):
    """What the reconciler does to sessions (`sessions.WahaSessions`)."""

    servers: list[WahaServer]
    busy: set[str]
    """Sessions with a lifecycle call under way: it knows better than a snapshot."""
    webhook_url: str

    def server_of(self, session: WahaSession) -> WahaServer | None: ...
    def session_config(self, session: WahaSession) -> dict[str, Any]: ...
    async def create_remote(self, session: WahaSession) -> None: ...
    async def delete_remote(self, session: WahaSession) -> None: ...
    async def forget(self, session: WahaSession) -> None: ...
    async def observe(
        self, session_name: str, info: Mapping[str, Any], *, seen_at: float | None = None
    ) -> None: ...


class WahaReconciler:
    def __init__(
        self,
        sessions: SessionLifecycle,
        store: SessionLister,
        connections: ConnectionLister,
        processes: Exclusive,
        *,
        interval: float,
        restart_backoff: float = RESTART_BACKOFF,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._connections = connections
        self._processes = processes
        self._interval = interval
        self._restart_backoff = restart_backoff
        self._restarted: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="waha-reconcile")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                # With several API processes on one database, one reconciles at a time; the
                # others would only repeat (and race) its calls to WAHA.
                async with self._processes.exclusive("waha-reconcile") as mine:
                    if mine:
                        await self.run_once()
            except Exception:
                log.exception("WAHA reconcile pass failed", extra={"action": "waha.reconcile"})
            await asyncio.sleep(self._interval)

    async def run_once(self) -> None:
        for server in self._sessions.servers:
            await self._reconcile_server(server)

    async def _reconcile_server(self, server: WahaServer) -> None:
        asked_at = time.monotonic()
        try:
            listed = await server.client.call("GET", "/api/sessions", params={"all": True})
        except WahooksError as exc:
            if server.reachable:
                log.warning("WAHA server unreachable", extra={
                    "action": "waha.down", "server": server.url, "error": exc.message})
            server.reachable = not isinstance(exc, EngineUnavailable)
            return
        if not server.reachable:
            log.info("WAHA server reachable again", extra={"action": "waha.up", "server": server.url})
        server.reachable = True
        remote = {
            item["name"]: item
            for item in (listed if isinstance(listed, list) else [])
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        }
        # Read after WAHA answered: a connection deleted meanwhile is seen deleted.
        mine = [s for s in await self._store.list_waha_sessions() if s.server_url == server.url]
        connections = {
            connection.id: connection
            for connection in await self._connections.list_connections(include_stopped=True)
        }
        for session in mine:
            if session.session_name in self._sessions.busy:
                continue  # a restart or delete is under way: it knows better than a snapshot
            try:
                await self._reconcile_session(
                    session, remote.get(session.session_name),
                    connections.get(session.connection_id), asked_at,
                )
            except WahooksError as exc:
                log.warning("WAHA session not reconciled", extra={
                    "action": "waha.reconcile", "session": session.session_name,
                    "error": exc.message})

    async def _reconcile_session(
        self,
        session: WahaSession,
        info: dict[str, Any] | None,
        connection: Connection | None,
        asked_at: float,
    ) -> None:
        sessions = self._sessions
        name = session.session_name
        if connection is None or connection.status is ConnectionStatus.STOPPED:
            if info is not None:
                await sessions.delete_remote(session)
            await sessions.forget(session)
            log.info("deleted connection's WAHA session removed",
                     extra={"action": "waha.cleanup", "session": name})
            return
        if info is None:
            log.info("WAHA lost a session: creating it again",
                     extra={"action": "waha.recreate", "session": name})
            await sessions.create_remote(session)
            return
        server = self._sessions.server_of(session)
        assert server is not None
        client = server.client
        if not self._webhook_current(info):
            await client.call("PUT", f"/api/sessions/{segment(name)}",
                                     json={"config": sessions.session_config(session)})
            log.info("WAHA session's webhook updated", extra={"action": "waha.rewire", "session": name})
        status = info.get("status")
        if status == "STOPPED":
            await client.call("POST", f"/api/sessions/{segment(name)}/start")
            log.info("stopped WAHA session started", extra={"action": "waha.start", "session": name})
            return
        if status == "FAILED" and connection.phone_number and self._may_restart(name):
            await client.call("POST", f"/api/sessions/{segment(name)}/restart")
            log.info("failed WAHA session restarted",
                     extra={"action": "waha.restart", "session": name})
            return
        await sessions.observe(name, info, seen_at=asked_at)

    def _webhook_current(self, info: Mapping[str, Any]) -> bool:
        config = info.get("config")
        hooks = config.get("webhooks") if isinstance(config, Mapping) else None
        if not isinstance(hooks, list):
            return True  # WAHA did not show its config: never rewrite blindly (a PUT restarts)
        return any(
            isinstance(hook, Mapping) and hook.get("url") == self._sessions.webhook_url
            for hook in hooks
        )

    def _may_restart(self, name: str) -> bool:
        now = time.monotonic()
        last = self._restarted.get(name)
        if last is not None and now - last < self._restart_backoff:
            return False
        self._restarted[name] = now
        return True
