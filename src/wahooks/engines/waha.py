"""The WAHA engine: real WhatsApp sessions run by one or more WAHA servers (NOWEB engine).

Each connection is one WAHA session named as the original names them (compat.md 5), placed on the
least-loaded server that has room. The session's webhook points at wahooks' ingest route with a
random per-session HMAC key, so only WAHA can feed events in; `receive` checks that signature and
hands the event, bytes untouched, to the core's ingest path. Status follows `session.status` events
at once, and `WahaReconciler` repairs what events cannot tell (WAHA restarted, a session lost).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import orjson

from wahooks.clock import now_ms
from wahooks.engines.base import EngineEvent, EventSink
from wahooks.engines.messages import MediaContent, OutgoingMessage, split_message_id
from wahooks.engines.waha_client import WahaClient, WahaRefused, segment
from wahooks.engines.waha_payloads import (
    chat_json,
    contact_json,
    send_request,
)
from wahooks.engines.waha_reconcile import ConnectionLister, Exclusive, WahaReconciler
from wahooks.engines.waha_servers import WahaServer, least_loaded
from wahooks.errors import (
    BadRequest,
    Conflict,
    EngineError,
    EngineUnavailable,
    NotFound,
    Unauthorized,
    WahooksError,
)
from wahooks.models import Connection
from wahooks.storage.records import WahaSession

QrT = TypeVar("QrT", bytes, str)

log = logging.getLogger(__name__)

INGEST_PATH = "/api/events/waha"
# WAHA retries an event wahooks did not take (restarting, say): 2, 4, 8 ... s, about 34 min in all.
WEBHOOK_RETRIES = {"policy": "exponential", "delaySeconds": 2, "attempts": 10}
BAD_SIGNATURE = "Invalid or missing X-Webhook-Hmac signature"
QR_WAIT_SECONDS = 5.0
RECENT_EVENT_IDS = 100_000  # event ids remembered against retries and replays (~10 MB)
QR_WAIT_POLLS = 20


class StatusObserver(Protocol):
    """Where session statuses learnt outside events go (the connection service)."""

    async def observe_engine_status(
        self, session_name: str, status: str, me: Mapping[str, Any] | None, *,
        seen_at: float | None = None,
    ) -> None: ...


class WahaSessionStore(Protocol):
    """The engine's own table: which WAHA server runs each session, and its webhook key."""

    async def save_waha_session(self, session: WahaSession) -> None: ...
    async def get_waha_session(self, session_name: str) -> WahaSession | None: ...
    async def list_waha_sessions(self) -> list[WahaSession]: ...
    async def delete_waha_session(self, session_name: str) -> None: ...


class WahaEngine:
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
    ) -> None:
        self._store = store
        self.reconciler = WahaReconciler(
            self, store, connections, processes, interval=reconcile_interval
        )
        self.servers = list(servers)
        self.webhook_url = ingest_url.rstrip("/") + INGEST_PATH
        self._sink: EventSink | None = None
        self._recent_ids: dict[str, None] = {}  # insertion-ordered: the oldest goes first
        self._observer: StatusObserver | None = None
        self._sessions: dict[str, WahaSession] = {}
        self._assigning = asyncio.Lock()
        self.busy: set[str] = set()
        """Sessions with a lifecycle call under way; the reconciler leaves them alone."""

    def attach(self, sink: EventSink) -> None:
        self._sink = sink

    def observe_with(self, observer: StatusObserver) -> None:
        self._observer = observer

    async def start(self) -> None:
        for session in await self._store.list_waha_sessions():
            self._sessions[session.session_name] = session
        self.reconciler.start()

    async def stop(self) -> None:
        await self.reconciler.stop()
        for server in self.servers:
            await server.client.close()

    # events in ----------------------------------------------------------------------------------

    async def receive(self, raw: bytes, signature: str | None, algorithm: str | None) -> int:
        """An event WAHA posted: taken only when signed with its session's key. Returns how many
        events the core accepted (0 when the connection is deleted)."""
        if not signature or (algorithm and algorithm.lower() != "sha512"):
            raise Unauthorized(BAD_SIGNATURE)
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Unauthorized(BAD_SIGNATURE) from None
        name = event.get("session") if isinstance(event, dict) else None
        session = await self.session_named(name) if isinstance(name, str) else None
        if session is None or not signature_matches(raw, session.hmac_key, signature):
            log.warning(
                "WAHA event refused",
                extra={"action": "waha.refused_event", "session": str(name)[:60],
                       "known": session is not None},
            )
            raise Unauthorized(BAD_SIGNATURE)
        event_id = event.get("id")
        if isinstance(event_id, str) and event_id in self._recent_ids:
            # WAHA retries an event whose answer it did not get (and a captured one could be
            # replayed): each event id is taken once.
            log.info("repeated WAHA event ignored",
                     extra={"action": "waha.duplicate", "session": session.session_name})
            return 0
        assert self._sink is not None, "engine not attached"
        accepted = await self._sink([EngineEvent(event, raw)])
        # Remembered only once stored: if storing failed, WAHA's retry must get through.
        self._remember_id(event_id)
        if accepted and _linked_without_me(event):
            await self._fill_phone(session)
        return accepted

    def _remember_id(self, event_id: object) -> None:
        if not isinstance(event_id, str) or not event_id:
            return
        self._recent_ids[event_id] = None
        if len(self._recent_ids) > RECENT_EVENT_IDS:
            del self._recent_ids[next(iter(self._recent_ids))]

    async def _fill_phone(self, session: WahaSession) -> None:
        """WORKING came without `me`: ask WAHA who is linked, for the connection's phone."""
        try:
            me = await self._client(session).call(
                "GET", f"/api/sessions/{segment(session.session_name)}/me"
            )
        except WahooksError as exc:
            log.warning("linked account unknown", extra={
                "action": "waha.me", "session": session.session_name, "error": exc.message})
            return
        if isinstance(me, dict):
            await self.observe(session.session_name, {"status": "WORKING", "me": me})

    async def session_named(self, name: str) -> WahaSession | None:
        session = self._sessions.get(name)
        if session is None:
            session = await self._store.get_waha_session(name)
            if session is not None:
                self._sessions[name] = session
        return session

    # sessions -----------------------------------------------------------------------------------

    async def start_session(self, connection: Connection) -> None:
        name = connection.session_name
        with self._busy(name):
            session = await self._assign(connection)  # every server full: 503, nothing made
            try:
                await self.create_remote(session)
            except EngineUnavailable:
                # The connection stays pending; the reconciler creates the session once WAHA is
                # back.
                log.warning("WAHA unreachable: session will be created later",
                            extra={"action": "waha.create_deferred", "session": name})

    async def restart_session(self, connection: Connection) -> None:
        """Full reset, logout included (the original's resetSession): delete, create, start."""
        session = await self._session_of(connection, assign=True)
        with self._busy(session.session_name):
            await self.delete_remote(session)
            await self.create_remote(session)

    async def delete_session(self, connection: Connection) -> None:
        session = await self.session_named(connection.session_name)
        if session is None:
            return
        try:
            with self._busy(session.session_name):
                await self.delete_remote(session)
                await self.forget(session)
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
        session = await self._session_of(connection)
        info = await self.session_info(session)
        for _ in range(QR_WAIT_POLLS):
            if info is None or info.get("status") != "STARTING":
                break
            await asyncio.sleep(QR_WAIT_SECONDS / QR_WAIT_POLLS)
            info = await self.session_info(session)
        status = None if info is None else info.get("status")
        if status == "SCAN_QR_CODE":
            return await fetch(session)
        if info is None:
            await self.restart_session(connection)  # WAHA lost it: a fresh session
        elif status in ("STOPPED", "FAILED"):
            await self._revive(connection, session, status)
        else:
            await self.observe(session.session_name, info)
        return None

    async def _revive(self, connection: Connection, session: WahaSession, status: str) -> None:
        """A stopped or failed session, asked for its QR code. A linked one is started again as
        it is, keeping its login (the original reset it, and the phone had to scan again); one
        that never linked is reset for a fresh QR code."""
        name = segment(session.session_name)
        client = self._client(session)
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
            answer = await self._client(session).call(
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

    async def me(self, connection: Connection) -> dict[str, Any] | None:
        session = await self._session_of(connection)
        try:
            answer = await self._client(session).call(
                "GET", f"/api/sessions/{segment(session.session_name)}/me"
            )
        except WahaRefused as exc:
            if exc.status in (404, 422):
                return None
            raise
        return answer if isinstance(answer, dict) and answer else None

    async def chats(
        self, connection: Connection, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        session = await self._session_of(connection)
        answer = await self._call(
            session, "GET", f"/api/{segment(session.session_name)}/chats/overview",
            params={"limit": limit, "offset": offset},
        )
        return [chat_json(chat) for chat in _list(answer)]

    # what the reconciler and the QR route use ---------------------------------------------------

    async def session_info(self, session: WahaSession) -> dict[str, Any] | None:
        try:
            answer = await self._client(session).call(
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
        client = self._client(session)
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
            await self._client(session).call(
                "DELETE", f"/api/sessions/{segment(session.session_name)}"
            )
        except WahaRefused as exc:
            if exc.status != 404:
                raise

    async def forget(self, session: WahaSession) -> None:
        await self._store.delete_waha_session(session.session_name)
        self._sessions.pop(session.session_name, None)

    def server_of(self, session: WahaSession) -> WahaServer | None:
        for server in self.servers:
            if server.url == session.server_url:
                return server
        return None

    # messaging ----------------------------------------------------------------------------------

    async def send(self, connection: Connection, message: OutgoingMessage) -> dict[str, Any]:
        session = await self._session_of(connection)
        path, body = send_request(session.session_name, message)
        answer = await self._call(session, "POST", path, json=body)
        return answer if isinstance(answer, dict) else {"result": answer}

    async def mark_read(self, connection: Connection, chat_id: str) -> None:
        session = await self._session_of(connection)
        await self._call(session, "POST", "/api/sendSeen",
                         json={"session": session.session_name, "chatId": chat_id})

    async def set_typing(self, connection: Connection, chat_id: str, typing: bool) -> None:
        session = await self._session_of(connection)
        path = "/api/startTyping" if typing else "/api/stopTyping"
        await self._call(session, "POST", path,
                         json={"session": session.session_name, "chatId": chat_id})

    async def react(self, connection: Connection, message_id: str, reaction: str) -> None:
        session = await self._session_of(connection)
        await self._call(session, "PUT", "/api/reaction", json={
            "session": session.session_name, "messageId": message_id, "reaction": reaction,
        })

    async def edit_message(
        self, connection: Connection, chat_id: str, message_id: str, text: str
    ) -> dict[str, Any]:
        session = await self._session_of(connection)
        answer = await self._call(session, "PUT", self._message_path(session, chat_id, message_id),
                                  json={"text": text})
        return answer if isinstance(answer, dict) else {"success": True}

    async def messages(
        self, connection: Connection, chat_id: str, *, limit: int, offset: int, until: int | None
    ) -> list[dict[str, Any]]:
        session = await self._session_of(connection)
        params: dict[str, str | int | float | bool] = {
            "limit": limit, "offset": offset, "downloadMedia": False,
            "sortBy": "timestamp", "sortOrder": "desc",
        }
        if until is not None:
            params["filter.timestamp.lte"] = until
        path = f"/api/{segment(session.session_name)}/chats/{segment(chat_id)}/messages"
        return _list(await self._call(session, "GET", path, params=params))

    async def message(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> dict[str, Any] | None:
        session = await self._session_of(connection)
        try:
            answer = await self._call(session, "GET",
                                      self._message_path(session, chat_id, message_id),
                                      params={"downloadMedia": False})
        except NotFound:
            return None
        return answer if isinstance(answer, dict) else None

    async def contacts(
        self, connection: Connection, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        session = await self._session_of(connection)
        answer = await self._call(session, "GET", "/api/contacts/all", params={
            "session": session.session_name, "limit": limit, "offset": offset, "sortBy": "id",
        })
        return [contact_json(contact) for contact in _list(answer)]

    async def profile_picture(self, connection: Connection, contact_id: str) -> str | None:
        session = await self._session_of(connection)
        answer = await self._call(session, "GET", "/api/contacts/profile-picture", params={
            "session": session.session_name, "contactId": contact_id,
        })
        if isinstance(answer, dict):
            for key in ("profilePictureURL", "profilePictureUrl", "url"):
                if isinstance(answer.get(key), str):
                    return str(answer[key])
        return answer if isinstance(answer, str) and answer else None

    async def media(self, connection: Connection, filename: str) -> MediaContent | None:
        session = await self._session_of(connection)
        return await self._file(session, f"/api/files/{segment(session.session_name)}/"
                                         f"{segment(filename)}")

    async def message_media(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> MediaContent | None:
        session = await self._session_of(connection)
        try:
            found = await self._call(session, "GET",
                                     self._message_path(session, chat_id, message_id),
                                     params={"downloadMedia": True})
        except NotFound:
            return None
        media = found.get("media") if isinstance(found, dict) else None
        url = media.get("url") if isinstance(media, dict) else None
        if not isinstance(url, str) or "/api/files/" not in url:
            return None
        # WAHA's media URLs carry its own base URL, which may not be how we reach it.
        return await self._file(session, "/api/files/" + url.split("/api/files/", 1)[1])

    # internals ----------------------------------------------------------------------------------

    async def _assign(self, connection: Connection) -> WahaSession:
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

    async def _session_of(self, connection: Connection, *, assign: bool = False) -> WahaSession:
        session = await self.session_named(connection.session_name)
        if session is None and assign:
            session = await self._assign(connection)
        if session is None:
            raise NotFound("No worker assigned to this connection")
        return session

    @contextlib.contextmanager
    def _busy(self, name: str) -> Iterator[None]:
        self.busy.add(name)
        try:
            yield
        finally:
            self.busy.discard(name)

    def _client(self, session: WahaSession) -> WahaClient:
        server = self.server_of(session)
        if server is None:
            raise EngineUnavailable(
                f"The WAHA server of this connection ({session.server_url}) is no longer configured"
            )
        return server.client

    async def _call(self, session: WahaSession, method: str, path: str, **kwargs: Any) -> Any:
        """A messaging call, WAHA's refusals said the way our API says them."""
        try:
            return await self._client(session).call(method, path, **kwargs)
        except WahaRefused as exc:
            raise _as_api_error(exc) from None

    async def _file(self, session: WahaSession, path: str) -> MediaContent | None:
        try:
            body, content_type = await self._client(session).fetch(path)
        except WahaRefused as exc:
            if exc.status == 404:
                return None
            raise
        return MediaContent(body, content_type)

    def _message_path(self, session: WahaSession, chat_id: str, message_id: str) -> str:
        if not chat_id:
            parts = split_message_id(message_id)
            if parts is None:
                raise BadRequest("chatId is required for this message id")
            chat_id = parts[1]
        return (f"/api/{segment(session.session_name)}/chats/{segment(chat_id)}/messages/"
                f"{segment(message_id)}")


def _linked_without_me(event: Mapping[str, Any]) -> bool:
    payload, me = event.get("payload"), event.get("me")
    return (
        event.get("event") == "session.status"
        and isinstance(payload, Mapping)
        and payload.get("status") == "WORKING"
        and not (isinstance(me, Mapping) and isinstance(me.get("id"), str))
    )


def signature_matches(raw: bytes, key: str, signature: str) -> bool:
    expected = hmac.new(key.encode(), raw, hashlib.sha512).hexdigest().encode()
    return hmac.compare_digest(expected, signature.strip().lower().encode("latin-1", "replace"))


def _list(answer: Any) -> list[dict[str, Any]]:
    if answer is None:
        return []
    if not isinstance(answer, list):
        raise EngineError("WAHA answered with something other than a list")
    return [item for item in answer if isinstance(item, dict)]


def _as_api_error(exc: WahaRefused) -> WahooksError:
    if exc.status == 400:
        return BadRequest(f"WAHA refused the request: {exc.detail}")
    if exc.status == 404:
        return NotFound(exc.detail or "Not found")
    if exc.status == 422:
        return Conflict(exc.detail)
    return exc
