"""The WAHA sessions wahooks made: which server runs each, its webhook key, and the calls that
create, delete and inspect one on its server.

This is the lifecycle the engine's public methods and the reconciler share; the reconciler sees
it through its own narrow protocol (`reconcile.SessionLifecycle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from wahooks.clock import now_ms
from wahooks.engines.waha.client import WahaClient, WahaRefused, segment
from wahooks.engines.waha.routes import INGEST_PATH
from wahooks.engines.waha.servers import WahaServer, least_loaded
from wahooks.errors import EngineUnavailable, NotFound
from wahooks.models import Connection
from wahooks.storage.records import WahaSession

log = logging.getLogger(__name__)

# WAHA retries an event wahooks did not take (restarting, say): 2, 4, 8 ... s, about 34 min in all.
WEBHOOK_RETRIES = {"policy": "exponential", "delaySeconds": 2, "attempts": 10}


class WahaSessionStore(Protocol):
    """The engine's own table: which WAHA server runs each session, and its webhook key."""

    async def save_waha_session(self, session: WahaSession) -> None: ...
    async def get_waha_session(self, session_name: str) -> WahaSession | None: ...
    async def list_waha_sessions(self) -> list[WahaSession]: ...
    async def delete_waha_session(self, session_name: str) -> None: ...


class StatusObserver(Protocol):
    """Where session statuses learnt outside events go (the connection service)."""

    async def observe_engine_status(
        self, session_name: str, status: str, me: Mapping[str, Any] | None, *,
        seen_at: float | None = None,
    ) -> None: ...


class WahaSessions:
    def __init__(
        self, store: WahaSessionStore, servers: Sequence[WahaServer], *, ingest_url: str
    ) -> None:
        self._store = store
        self.servers = list(servers)
        self.webhook_url = ingest_url.rstrip("/") + INGEST_PATH
        self._observer: StatusObserver | None = None
        self._sessions: dict[str, WahaSession] = {}
        self._assigning = asyncio.Lock()
        self.busy: set[str] = set()
        """Sessions with a lifecycle call under way; the reconciler leaves them alone."""

    def observe_with(self, observer: StatusObserver) -> None:
        self._observer = observer

    async def load(self) -> None:
        for session in await self._store.list_waha_sessions():
            self._sessions[session.session_name] = session

    async def close(self) -> None:
        for server in self.servers:
            await server.client.close()

    async def named(self, name: str) -> WahaSession | None:
        session = self._sessions.get(name)
        if session is None:
            session = await self._store.get_waha_session(name)
            if session is not None:
                self._sessions[name] = session
        return session

    async def of(self, connection: Connection, *, assign: bool = False) -> WahaSession:
        session = await self.named(connection.session_name)
        if session is None and assign:
            session = await self.assign(connection)
        if session is None:
            raise NotFound("No worker assigned to this connection")
        return session

    async def assign(self, connection: Connection) -> WahaSession:
        """A new session on the least-loaded server with room (503 when every one is full)."""
        async with self._assigning:
            load: dict[str, int] = {server.url: 0 for server in self.servers}
            for known in await self._store.list_waha_sessions():
                if known.server_url in load:
                    load[known.server_url] += 1
            server = least_loaded(self.servers, load)
            session = WahaSession(
                connection_id=connection.id, session_name=connection.session_name,
                server_url=server.url, hmac_key=secrets.token_hex(32), created_at=now_ms(),
            )
            await self._store.save_waha_session(session)
            self._sessions[session.session_name] = session
            return session

    async def forget(self, session: WahaSession) -> None:
        await self._store.delete_waha_session(session.session_name)
        self._sessions.pop(session.session_name, None)

    @contextlib.contextmanager
    def busy_with(self, name: str) -> Iterator[None]:
        self.busy.add(name)
        try:
            yield
        finally:
            self.busy.discard(name)

    def server_of(self, session: WahaSession) -> WahaServer | None:
        for server in self.servers:
            if server.url == session.server_url:
                return server
        return None

    def client(self, session: WahaSession) -> WahaClient:
        server = self.server_of(session)
        if server is None:
            raise EngineUnavailable(
                f"The WAHA server of this connection ({session.server_url}) is no longer configured"
            )
        return server.client

    def session_config(self, session: WahaSession) -> dict[str, Any]:
        return {
            "noweb": {"markOnline": True, "store": {"enabled": True, "fullSync": True}},
            "webhooks": [{
                "url": self.webhook_url,
                "events": ["*"],
                "hmac": {"key": session.hmac_key},
                "retries": dict(WEBHOOK_RETRIES),
            }],
        }

    async def create_remote(self, session: WahaSession) -> None:
        client = self.client(session)
        name = session.session_name
        config = self.session_config(session)
        try:
            await client.call("POST", "/api/sessions",
                              json={"name": name, "start": False, "config": config})
        except WahaRefused as exc:
            if exc.status != 422:  # 422: it exists already (an earlier try got through)
                raise
            await client.call("PUT", f"/api/sessions/{segment(name)}", json={"config": config})
        await client.call("POST", f"/api/sessions/{segment(name)}/start")
        log.info("WAHA session created",
                 extra={"action": "waha.create", "session": name, "server": session.server_url})

    async def delete_remote(self, session: WahaSession) -> None:
        try:
            await self.client(session).call(
                "DELETE", f"/api/sessions/{segment(session.session_name)}"
            )
        except WahaRefused as exc:
            if exc.status != 404:
                raise

    async def info(self, session: WahaSession) -> dict[str, Any] | None:
        """WAHA's view of the session; None when WAHA does not know it."""
        try:
            answer = await self.client(session).call(
                "GET", f"/api/sessions/{segment(session.session_name)}"
            )
        except WahaRefused as exc:
            if exc.status == 404:
                return None
            raise
        return answer if isinstance(answer, dict) else None

    async def observe(
        self, session_name: str, info: Mapping[str, Any], *, seen_at: float | None = None
    ) -> None:
        """Apply a status WAHA reported outside an event; `seen_at` (time.monotonic()) is when
        it was asked, so an event that came in since wins over this older news."""
        status, me = info.get("status"), info.get("me")
        if self._observer is not None and isinstance(status, str):
            await self._observer.observe_engine_status(
                session_name, status, me if isinstance(me, Mapping) else None, seen_at=seen_at
            )
