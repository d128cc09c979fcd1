"""The WAHA engine: real WhatsApp sessions run by one or more WAHA servers (NOWEB engine).

Each connection is one WAHA session named as the original names them (compat.md 5), placed on the
least-loaded server that has room. The session's webhook points at wahooks' ingest route with a
random per-session HMAC key, so only WAHA can feed events in (`events.SignedEvents` checks the
signature and hands the event, bytes untouched, to the core's ingest path). Status follows
`session.status` events at once, and `WahaReconciler` repairs what events cannot tell (WAHA
restarted, a session lost).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from wahooks.engines.base import ConnectionDirectory, EventSink
from wahooks.engines.routes import InboundRoute
from wahooks.engines.waha.client import WahaRefused, segment
from wahooks.engines.waha.events import (
    EVENT_WINDOW,
    MAX_EVENT_BYTES,
    EventIdStore,
    SignedEvents,
)
from wahooks.engines.waha.messaging import WahaMessaging
from wahooks.engines.waha.reconcile import ConnectionLister, Exclusive, WahaReconciler
from wahooks.engines.waha.routes import waha_routes
from wahooks.engines.waha.servers import WahaServer
from wahooks.engines.waha.sessions import WahaSessions, WahaSessionStore
from wahooks.errors import EngineError, EngineUnavailable
from wahooks.models import Connection
from wahooks.storage.records import WahaSession

QrT = TypeVar("QrT", bytes, str)

log = logging.getLogger(__name__)

QR_WAIT_SECONDS = 5.0
QR_WAIT_POLLS = 20


class WahaEngine(WahaMessaging):
    """Sessions' lifecycle and QR codes here; messaging in `WahaMessaging`."""

    name = "NOWEB"

    def __init__(
        self,
        store: WahaSessionStore,
        servers: Sequence[WahaServer],
        connections: ConnectionLister,
        processes: Exclusive,
        *,
        ingest_url: str,
        reconcile_interval: float,
        event_ids: EventIdStore,
        event_window: float = EVENT_WINDOW,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        sessions = WahaSessions(store, servers, ingest_url=ingest_url)
        super().__init__(sessions)
        self.events = SignedEvents(sessions, event_ids, window=event_window)
        self._max_event_bytes = max_event_bytes
        self.reconciler = WahaReconciler(
            sessions, store, connections, processes, interval=reconcile_interval
        )

    def attach(self, sink: EventSink, connections: ConnectionDirectory) -> None:
        self.events.attach(sink)
        self._sessions.observe_with(connections)

    def routes(self) -> list[InboundRoute]:
        return waha_routes(self.events, self._max_event_bytes)

    async def start(self) -> None:
        await self._sessions.load()
        self.reconciler.start()

    async def stop(self) -> None:
        await self.reconciler.stop()
        await self._sessions.close()

    async def start_session(self, connection: Connection) -> None:
        name = connection.session_name
        with self._sessions.busy_with(name):
            session = await self._sessions.assign(connection)  # every server full: 503, nothing made
            try:
                await self._sessions.create_remote(session)
            except EngineUnavailable:
                # The connection stays pending; the reconciler creates the session once WAHA is
                # back.
                log.warning("WAHA unreachable: session will be created later",
                            extra={"action": "waha.create_deferred", "session": name})

    async def restart_session(self, connection: Connection) -> None:
        """Full reset, logout included (the original's resetSession): delete, create, start."""
        session = await self._sessions.of(connection, assign=True)
        with self._sessions.busy_with(session.session_name):
            await self._sessions.delete_remote(session)
            await self._sessions.create_remote(session)

    async def delete_session(self, connection: Connection) -> None:
        session = await self._sessions.named(connection.session_name)
        if session is None:
            return
        try:
            with self._sessions.busy_with(session.session_name):
                await self._sessions.delete_remote(session)
                await self._sessions.forget(session)
        except EngineUnavailable:
            log.warning("WAHA unreachable: session will be deleted later",
                        extra={"action": "waha.delete_deferred", "session": session.session_name})

    async def qr_png(self, connection: Connection) -> bytes | None:
        """The QR code while WAHA waits for a scan; None otherwise (the caller polls again). A
        session that is just starting is waited for a few seconds, as the original polls."""
        return await self._qr(connection, self._qr_image)

    async def qr_text(self, connection: Connection) -> str | None:
        return await self._qr(connection, self._qr_raw)

    async def _qr(
        self,
        connection: Connection,
        fetch: Callable[[WahaSession], Awaitable[QrT | None]],
    ) -> QrT | None:
        session = await self._sessions.of(connection)
        info = await self._sessions.info(session)
        for _ in range(QR_WAIT_POLLS):
            if info is None or info.get("status") != "STARTING":
                break
            await asyncio.sleep(QR_WAIT_SECONDS / QR_WAIT_POLLS)
            info = await self._sessions.info(session)
        status = None if info is None else info.get("status")
        if status == "SCAN_QR_CODE":
            return await fetch(session)
        if info is None:
            await self.restart_session(connection)  # WAHA lost it: a fresh session
        elif status in ("STOPPED", "FAILED"):
            await self._revive(connection, session, status)
        else:
            await self._sessions.observe(session.session_name, info)
        return None

    async def _revive(self, connection: Connection, session: WahaSession, status: str) -> None:
        """A stopped or failed session, asked for its QR code. A linked one is started again as
        it is, keeping its login (the original reset it, and the phone had to scan again); one
        that never linked is reset for a fresh QR code."""
        name = segment(session.session_name)
        client = self._sessions.client(session)
        if not connection.phone_number:
            await self.restart_session(connection)
        elif status == "STOPPED":
            await client.call("POST", f"/api/sessions/{name}/start")
        else:
            await client.call("POST", f"/api/sessions/{name}/restart")

    async def _qr_raw(self, session: WahaSession) -> str | None:
        return await self._qr_field(session, "raw", "value")

    async def _qr_image(self, session: WahaSession) -> bytes | None:
        data = await self._qr_field(session, "image", "data")
        if data is None:
            return None
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error:
            raise EngineError("WAHA answered a QR code that is not base64") from None

    async def _qr_field(self, session: WahaSession, form: str, field: str) -> str | None:
        """One field of WAHA's QR answer in the given form; None when there is no QR now."""
        try:
            answer = await self._sessions.client(session).call(
                "GET", f"/api/{segment(session.session_name)}/auth/qr", params={"format": form}
            )
        except WahaRefused as exc:
            if exc.status == 422:  # the QR rotated away or the phone just scanned it
                return None
            raise
        value = answer.get(field) if isinstance(answer, dict) else None
        if not isinstance(value, str):
            raise EngineError(f"WAHA answered the QR code ({form}) without its {field}")
        return value
