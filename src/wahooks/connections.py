"""Connections: linked WhatsApp numbers, their lifecycle, and who may touch them.

A connection's status follows the engine's `session.status` events at once (the original waited up
to three minutes for a poll): WORKING -> working (with the phone number from `me`), SCAN_QR_CODE ->
scan_qr, FAILED -> failed, STARTING and STOPPED -> pending (not running yet, or again: the engine
brings it back). `stopped` means deleted and only a delete sets it; the original's poll treated a
stopped WAHA session the same way, but reset it (logout) instead of starting it. An event older
than one already applied (WAHA retries deliveries, so they can arrive out of order) changes nothing.
Deleting is a soft delete: the row stays, `stopped`, so logs keep their owner, and events for it are
dropped from then on.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any, Protocol

from wahooks.clock import now_ms
from wahooks.engines.base import Engine
from wahooks.errors import Conflict, Forbidden, NotFound, WahooksError
from wahooks.ids import parse_uuid, uuid7
from wahooks.models import Connection, ConnectionStatus, User, Webhook

log = logging.getLogger(__name__)

_FROM_ENGINE = {
    "WORKING": ConnectionStatus.WORKING,
    "SCAN_QR_CODE": ConnectionStatus.SCAN_QR,
    "FAILED": ConnectionStatus.FAILED,
    "STARTING": ConnectionStatus.PENDING,
    "STOPPED": ConnectionStatus.PENDING,
}
CACHE_SECONDS = 5.0
REUSABLE = (ConnectionStatus.SCAN_QR, ConnectionStatus.PENDING, ConnectionStatus.FAILED)


def session_name_for(user: User) -> str:
    """The original's naming: u_<12 hex of the user id>_s_<12 random hex> (WAHA allows 54 chars)."""
    return f"u_{user.id.replace('-', '')[:12]}_s_{secrets.token_hex(6)}"


class ConnectionStore(Protocol):
    async def create_connection(self, connection: Connection) -> None: ...
    async def get_connection(self, connection_id: str) -> Connection | None: ...
    async def find_connection_by_session(self, session_name: str) -> Connection | None: ...
    async def list_connections(
        self, user_id: str | None = None, *, include_stopped: bool = False
    ) -> list[Connection]: ...
    async def rename_connection(self, connection_id: str, name: str | None) -> Connection: ...
    async def set_connection_status(
        self, connection_id: str, status: ConnectionStatus, *, phone_number: str | None = None
    ) -> Connection: ...


class WebhookLister(Protocol):
    async def list_webhooks(self, connection_id: str) -> list[Webhook]: ...


class ConnectionService:
    def __init__(self, store: ConnectionStore, webhooks: WebhookLister, engine: Engine) -> None:
        self._store = store
        self._webhooks = webhooks
        self.engine = engine
        # Every event and every API call looks its connection up; these caches keep that off the
        # database. This process's own changes update them at once; an entry read from the
        # database is trusted for CACHE_SECONDS, the bound on seeing another process's change.
        self._by_session: dict[str, tuple[float, Connection]] = {}
        self._by_id: dict[str, tuple[float, Connection]] = {}
        self._status_event_at: dict[str, int] = {}  # WAHA's clock: orders events
        self._status_applied_at: dict[str, float] = {}  # ours: when the last event was applied

    async def by_session(self, session_name: str) -> Connection | None:
        """The live connection running `session_name`; None if unknown or deleted."""
        cached = self._by_session.get(session_name)
        if cached is not None and cached[0] > time.monotonic():
            connection = cached[1]
        else:
            found = await self._store.find_connection_by_session(session_name)
            if found is None:
                return None
            connection = self._remember(found)
        return None if connection.status is ConnectionStatus.STOPPED else connection

    async def by_id(self, connection_id: str) -> Connection | None:
        cached = self._by_id.get(connection_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = await self._store.get_connection(connection_id)
        return None if found is None else self._remember(found)

    async def owned(self, user: User, connection_id: str) -> Connection:
        cached = self._by_id.get(connection_id)
        if cached is not None and cached[0] > time.monotonic():
            connection: Connection | None = cached[1]
        else:
            canonical = parse_uuid(connection_id)
            connection = None if canonical is None else await self._store.get_connection(canonical)
            if connection is not None:
                self._remember(connection)
        if connection is None:
            raise NotFound("Connection not found")
        if connection.user_id != user.id:
            raise Forbidden("You do not own this connection")
        return connection

    async def list(self, user: User) -> list[Connection]:
        return await self._store.list_connections(user.id)

    async def create(self, user: User, name: str | None) -> Connection:
        now = now_ms()
        connection = Connection(
            id=uuid7(), user_id=user.id, name=name, session_name=session_name_for(user),
            phone_number=None, status=ConnectionStatus.PENDING, engine=self.engine.name,
            created_at=now, updated_at=now,
        )
        await self._store.create_connection(connection)
        self._remember(connection)
        try:
            await self.engine.start_session(connection)
        except WahooksError:
            # Refused outright (every WAHA server full, WAHA said no): not left behind pending.
            await self._set_status(connection, ConnectionStatus.STOPPED)
            raise
        return await self._reload(connection.id)

    async def rename(self, connection: Connection, name: str | None) -> Connection:
        return self._remember(await self._store.rename_connection(connection.id, name or None))

    @staticmethod
    def require_live(connection: Connection) -> Connection:
        """A deleted connection is kept for its logs only: nothing may bring it back."""
        if connection.status is ConnectionStatus.STOPPED:
            raise Conflict("This connection was deleted; create a new one")
        return connection

    async def restart(self, connection: Connection) -> Connection:
        self.require_live(connection)
        await self.engine.restart_session(connection)
        return await self._set_status(connection, ConnectionStatus.SCAN_QR)

    async def delete(self, connection: Connection) -> Connection:
        await self.engine.delete_session(connection)
        return await self._set_status(connection, ConnectionStatus.STOPPED)

    async def reusable(self, user: User, *, virgin_only: bool) -> Connection | None:
        """The newest of the user's connections that can be scanned again, if any."""
        for connection in await self._store.list_connections(user.id):
            if connection.status not in REUSABLE:
                continue
            if virgin_only and (
                connection.phone_number or await self._webhooks.list_webhooks(connection.id)
            ):
                continue
            return connection
        return None

    async def follow_engine_status(
        self, connection: Connection, event: Mapping[str, Any]
    ) -> Connection:
        payload = event.get("payload")
        engine_status = payload.get("status") if isinstance(payload, Mapping) else None
        if not isinstance(engine_status, str):
            return connection
        at = event.get("timestamp")
        if isinstance(at, int):
            if at < self._status_event_at.get(connection.session_name, 0):
                return connection
            self._status_event_at[connection.session_name] = at
        self._status_applied_at[connection.session_name] = time.monotonic()
        me = event.get("me")
        return await self._apply_engine_status(
            connection, engine_status, me if isinstance(me, Mapping) else None
        )

    async def observe_engine_status(
        self, session_name: str, status: str, me: Mapping[str, Any] | None, *,
        seen_at: float | None = None,
    ) -> None:
        """A status the engine reported outside an event (the WAHA reconcile loop, a QR poll),
        as it was at `seen_at` (time.monotonic()): an event applied since then is newer news."""
        if seen_at is not None and self._status_applied_at.get(session_name, 0.0) > seen_at:
            return
        connection = await self.by_session(session_name)
        if connection is not None:
            await self._apply_engine_status(connection, status, me)

    async def _apply_engine_status(
        self, connection: Connection, engine_status: str, me: Mapping[str, Any] | None
    ) -> Connection:
        status = _FROM_ENGINE.get(engine_status)
        if status is None:
            return connection
        phone = None
        if status is ConnectionStatus.WORKING:
            me_id = me.get("id") if me is not None else None
            if isinstance(me_id, str) and "@" in me_id:
                phone = me_id.split("@", 1)[0].split(":", 1)[0]
        if status is connection.status and (phone is None or phone == connection.phone_number):
            return connection
        updated = await self._store.set_connection_status(
            connection.id, status, phone_number=phone
        )
        log.info(
            "connection status changed",
            extra={"action": "connection.status", "connection_id": connection.id,
                   "status": status.value},
        )
        return self._remember(updated)

    async def _set_status(self, connection: Connection, status: ConnectionStatus) -> Connection:
        return self._remember(await self._store.set_connection_status(connection.id, status))

    async def _reload(self, connection_id: str) -> Connection:
        connection = await self._store.get_connection(connection_id)
        if connection is None:
            raise NotFound("Connection not found")
        return self._remember(connection)

    def _remember(self, connection: Connection) -> Connection:
        entry = (time.monotonic() + CACHE_SECONDS, connection)
        self._by_session[connection.session_name] = entry
        self._by_id[connection.id] = entry
        return connection
