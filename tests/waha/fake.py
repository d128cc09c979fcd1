"""A fake WAHA (NOWEB engine): a real HTTP server on 127.0.0.1 that wahooks drives like the real one.

Every request is checked against WAHA's OpenAPI document (`spec.WahaSpec`, strict reading): path,
method, query parameters, body and its required fields, no undeclared keys, and the X-Api-Key. A
request that fails is answered 400 the way WAHA's NestJS does AND recorded in `violations`, which
the fixtures assert empty after every test, so an adapter bug cannot hide behind a lenient answer.
Every answer the fake gives is checked too (lenient reading), so the fake cannot drift from WAHA.

Sessions behave as compat.md 2 describes: created STOPPED, started -> STARTING -> SCAN_QR_CODE (or
WORKING when already linked), a scan links them, status-gated endpoints answer 422 otherwise.
Events are built from the shapes of shared/fixtures/waha, validated against the document's webhook
schemas, and POSTed to each webhook of the session's config exactly as WAHA does: compact JSON,
`X-Webhook-Hmac` = hex HMAC-SHA512(hmac.key, raw body), `X-Webhook-Hmac-Algorithm: sha512`,
`X-Webhook-Timestamp` in ms, retried per the webhook's `retries` (delays scaled down for tests).

One documented departure from the document: NOWEB's send endpoints answer Baileys' WebMessageInfo
(`key`, `message`, `messageTimestamp`, `status`), which the document's `WAMessage` for sendText does
not describe (compat.md 2.3, confirmed in NOWEB's source); `send_answer="wamessage"` answers the
documented shape instead. The media files route (`GET /api/files/{session}/{file}`, compat.md 2.6)
is not in the document either and is served as WAHA serves it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import mimetypes
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import unquote

import aiohttp
import segno
from aiohttp import web

from waha.spec import CheckedRequest, SpecViolation, WahaSpec

T = TypeVar("T")
FIXTURES = Path(__file__).parents[2] / ".." / "shared" / "fixtures" / "waha"
VERSION = "2026.9.1"
ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


@dataclass(frozen=True)
class Recorded:
    operation: str
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Delivery:
    session: str
    event: str
    url: str
    body: bytes
    headers: dict[str, str]
    statuses: list[int | str] = field(default_factory=list)


@dataclass
class FakeSession:
    name: str
    config: dict[str, Any]
    status: str = "STOPPED"
    statuses: list[dict[str, Any]] = field(default_factory=list)
    me: dict[str, Any] | None = None
    qr: str = ""
    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)


Handler = Callable[[FakeSession | None, CheckedRequest, web.Request], Awaitable[tuple[int, Any]]]


class FakeWaha:
    def __init__(
        self,
        spec: WahaSpec,
        *,
        api_key: str = "waha-test-key",
        retry_delay_scale: float = 0.01,
        send_answer: str = "noweb",
    ) -> None:
        self.spec = spec
        self.api_key = api_key
        self.retry_delay_scale = retry_delay_scale
        self.send_answer = send_answer
        self.delay = 0.0
        """Seconds every answer waits (a WAHA that hangs)."""
        self.sessions: dict[str, FakeSession] = {}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.deliveries: list[Delivery] = []
        self.port = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._outbox: asyncio.Queue[tuple[Delivery, dict[str, Any] | None]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Handler] = self._routes()

    # lifecycle (called from the test's thread) --------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def down(self) -> None:
        """WAHA goes away: the port stops answering and open connections are cut."""
        self._run(self._close_site())

    def up(self) -> None:
        self._run(self._open_site())

    def _run(self, work: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    async def _start(self) -> None:
        self._outbox = asyncio.Queue()
        self._spawn(self._deliver_forever())
        await self._open_site()

    async def _shutdown(self) -> None:
        await self._close_site()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _open_site(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def _close_site(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # what tests make happen ---------------------------------------------------------------------

    def session(self, name: str) -> FakeSession:
        with self._lock:
            return self.sessions[name]

    def scan(self, name: str, phone: str = "14155550199", push_name: str = "Acme Support") -> None:
        """The phone scans the QR code: the session is linked and WORKING."""
        self._run(self._scan(name, phone, push_name))

    def inbound(self, name: str, sender: str, text: str) -> bytes:
        """A contact writes: `message` then `message.any`; the bytes of the `message` event."""
        return self._run(self._inbound(name, sender, text))

    def emit_fixture(self, name: str, fixture: str) -> bytes:
        """Emit a fixture file's event as this session, now (a fresh id and timestamp, as WAHA
        gives every event it sends); its bytes as sent."""
        event = json.loads((FIXTURES / fixture).read_text("utf-8"))
        event.update(id="evt_" + _ulid(), timestamp=_ms())
        return self._run(self._emit_event(self.session(name), event))

    def set_status(self, name: str, status: str, *, emit: bool = True,
                   phone: str | None = None) -> None:
        """Change a session's status; `emit=False` loses the event (the reconciler must notice)."""
        self._run(self._set_status(self.session(name), status, emit=emit, phone=phone))

    def restart_waha(self, *, wipe: bool) -> None:
        """WAHA restarts: sessions come back STOPPED, or are gone when its storage was wiped."""
        with self._lock:
            if wipe:
                self.sessions.clear()
            for session in self.sessions.values():
                session.status = "STOPPED"

    def calls(self, operation: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.operation == operation]

    def delivered(self, event: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if event is None or d.event == event]

    # the HTTP side ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        body = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.headers.get("X-Api-Key") != self.api_key:
            self.violations.append(f"{request.method} {raw_path}: missing or wrong X-Api-Key")
            return _error(401, "Unauthorized")
        if request.method == "GET" and raw_path.startswith("/api/files/"):
            return self._file(raw_path)
        query = {key: request.rel_url.query.getall(key) for key in request.rel_url.query}
        try:
            checked = self.spec.check_request(
                request.method, raw_path, query, body, request.headers.get("Content-Type", "")
            )
        except SpecViolation as exc:
            self.violations.append(str(exc))
            return _error(400, [str(exc)])
        operation = checked.operation
        with self._lock:
            self.requests.append(Recorded(operation.operation_id, request.method, raw_path,
                                          checked.query, checked.body))
        handler = self._handlers.get(operation.operation_id)
        if handler is None:
            self.violations.append(f"the fake does not implement {operation.operation_id}")
            return _error(501, "Not implemented by the fake")
        name = checked.path_params.get("session") or checked.query.get("session")
        if name is None and isinstance(checked.body, dict):
            name = checked.body.get("session")
        session = self.sessions.get(str(name)) if name is not None else None
        status, answer = await handler(session, checked, request)
        if isinstance(answer, web.StreamResponse):
            return answer
        if status < 400 and not (operation.operation_id == "ChattingController_sendText"
                                 and self.send_answer == "noweb"):
            problems = self.spec.response_errors(operation, status, answer)
            if problems:
                self.violations.append(f"the fake's answer to {operation.operation_id} is not"
                                       f" what WAHA documents: {problems}")
        if answer is None:
            return web.Response(status=status)
        return web.json_response(answer, status=status,
                                 dumps=lambda v: json.dumps(v, separators=(",", ":")))

    def _file(self, raw_path: str) -> web.Response:
        parts = raw_path.split("/")
        if len(parts) != 5 or parts[4] == "":
            return _error(404, "Not Found")
        session = self.sessions.get(unquote(parts[3]))
        found = session.files.get(unquote(parts[4])) if session else None
        if found is None:
            return _error(404, "File not found")
        return web.Response(body=found[0], content_type=found[1].split(";")[0])

    def _routes(self) -> dict[str, Handler]:
        return {
            "SessionsController_list": self._list,
            "SessionsController_create": self._create,
            "SessionsController_get": self._get,
            "SessionsController_update": self._update,
            "SessionsController_delete": self._delete,
            "SessionsController_start": self._start_op,
            "SessionsController_stop": self._stop_op,
            "SessionsController_restart": self._restart_op,
            "SessionsController_logout": self._logout,
            "SessionsController_getMe": self._me,
            "AuthController_getQR": self._qr,
            "ChattingController_sendText": self._send,
            "ChattingController_sendImage": self._send,
            "ChattingController_sendFile": self._send,
            "ChattingController_sendVoice": self._send,
            "ChattingController_sendVideo": self._send,
            "ChattingController_sendLocation": self._send,
            "ChattingController_sendContactVcard": self._send,
            "ChattingController_sendSeen": self._seen,
            "ChattingController_startTyping": self._typing,
            "ChattingController_stopTyping": self._typing,
            "ChattingController_setReaction": self._react,
            "ChatsController_getChatsOverview": self._chats_overview,
            "ChatsController_getChatMessages": self._chat_messages,
            "ChatsController_getChatMessage": self._chat_message,
            "ChatsController_editMessage": self._edit,
            "ContactsController_getAll": self._contacts,
            "ContactsController_getProfilePicture": self._picture,
        }

    # sessions -----------------------------------------------------------------------------------

    async def _list(self, _: FakeSession | None, req: CheckedRequest,
                    __: web.Request) -> tuple[int, Any]:
        show_all = req.query.get("all") == "true"
        return 200, [_info(s) for s in self.sessions.values()
                     if show_all or s.status != "STOPPED"]

    async def _create(self, existing: FakeSession | None, req: CheckedRequest,
                      _: web.Request) -> tuple[int, Any]:
        body = req.body or {}
        name = body.get("name", "default")
        if name in self.sessions:
            return 422, {"statusCode": 422, "error": "Unprocessable Entity",
                         "message": f"Session '{name}' already exists. Use PUT to update it."}
        session = self.sessions[name] = FakeSession(name, body.get("config") or {})
        if body.get("start", True):
            self._spawn(self._boot(session))
        return 201, _dto(session)

    async def _get(self, session: FakeSession | None, _: CheckedRequest,
                   __: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        return 200, _info(session)

    async def _update(self, session: FakeSession | None, req: CheckedRequest,
                      _: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        session.config = (req.body or {}).get("config") or {}
        if session.status != "STOPPED":
            self._spawn(self._reboot(session))
        return 200, _dto(session)

    async def _delete(self, session: FakeSession | None, _: CheckedRequest,
                      __: web.Request) -> tuple[int, Any]:
        if session is not None:
            if session.status != "STOPPED":
                await self._set_status(session, "STOPPED")
            self.sessions.pop(session.name, None)
        return 200, None

    async def _start_op(self, session: FakeSession | None, _: CheckedRequest,
                        __: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        if session.status in ("STOPPED", "FAILED"):
            self._spawn(self._boot(session))
        return 201, _dto(session)

    async def _stop_op(self, session: FakeSession | None, _: CheckedRequest,
                       __: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        if session.status != "STOPPED":
            await self._set_status(session, "STOPPED")
        return 201, _dto(session)

    async def _restart_op(self, session: FakeSession | None, _: CheckedRequest,
                          __: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        self._spawn(self._reboot(session))
        return 201, _dto(session)

    async def _logout(self, session: FakeSession | None, _: CheckedRequest,
                      __: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        session.me = None
        if session.status != "STOPPED":
            self._spawn(self._reboot(session))
        return 201, _dto(session)

    async def _me(self, session: FakeSession | None, _: CheckedRequest,
                  __: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        return 200, session.me if session.status == "WORKING" else None

    async def _qr(self, session: FakeSession | None, req: CheckedRequest,
                  request: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        if session.status != "SCAN_QR_CODE":
            return 422, _status_error(session, ["SCAN_QR_CODE"])
        if req.query.get("format") == "raw":
            return 200, {"value": session.qr}
        out = io.BytesIO()
        segno.make(session.qr, error="m").save(out, kind="png", scale=4)
        if "application/json" in request.headers.get("Accept", ""):
            return 200, {"mimetype": "image/png", "data": base64.b64encode(out.getvalue()).decode()}
        return 200, web.Response(body=out.getvalue(), content_type="image/png")

    async def _boot(self, session: FakeSession) -> None:
        await self._set_status(session, "STARTING")
        await asyncio.sleep(0.01)
        if session.me is not None:
            await self._set_status(session, "WORKING")
        else:
            session.qr = f"2@{secrets.token_urlsafe(24)},{secrets.token_urlsafe(12)}"
            await self._set_status(session, "SCAN_QR_CODE")

    async def _reboot(self, session: FakeSession) -> None:
        await self._set_status(session, "STOPPED")
        await self._boot(session)

    async def _scan(self, name: str, phone: str, push_name: str) -> None:
        session = self.sessions[name]
        assert session.status == "SCAN_QR_CODE", session.status
        await self._set_status(session, "WORKING", phone=phone, push_name=push_name)

    async def _set_status(self, session: FakeSession, status: str, *, emit: bool = True,
                          phone: str | None = None, push_name: str = "Acme Support") -> None:
        if phone is not None:
            lid = int(hashlib.sha256(phone.encode()).hexdigest(), 16) % 10**15
            session.me = {"id": f"{phone}@c.us", "lid": f"{lid:015d}@lid",
                          "jid": f"{phone}:23@s.whatsapp.net", "pushName": push_name}
        session.status = status
        session.statuses = [*session.statuses, {"status": status, "timestamp": _ms()}][-3:]
        if emit:
            await self._emit(session, "session.status", {
                "name": session.name, "status": status, "statuses": list(session.statuses),
                "data": None,
            })

    # messaging ----------------------------------------------------------------------------------

    async def _send(self, session: FakeSession | None, req: CheckedRequest,
                    _: web.Request) -> tuple[int, Any]:
        if session is None or session.status != "WORKING":
            return (404, _nest(404, "Session not found")) if session is None else (
                422, _status_error(session, ["WORKING"]))
        body = req.body
        chat = body["chatId"]
        wa_id = "3EB0" + secrets.token_hex(9).upper()
        message_id = f"true_{chat}_{wa_id}"
        now = int(time.time())
        text, media, location, vcards = "", None, None, []
        operation = req.operation.operation_id
        if operation.endswith("sendText"):
            text = body["text"]
        elif operation.endswith("sendLocation"):
            location = {"latitude": str(body["latitude"]), "longitude": str(body["longitude"]),
                        "live": False, "name": body["title"]}
        elif operation.endswith("sendContactVcard"):
            vcards = [contact["vcard"] for contact in body["contacts"]]
        else:
            text = body.get("caption") or ""
            media = self._keep_file(session, message_id, body["file"])
        message = {
            "id": message_id, "timestamp": now, "from": chat, "fromMe": True, "source": "api",
            "body": text, "to": None, "participant": None, "hasMedia": media is not None,
            "media": media, "ack": 0, "ackName": "PENDING", "location": location,
            "vCards": vcards,
            "replyTo": {"id": body["reply_to"], "participant": None, "body": None,
                        "hasMedia": False} if body.get("reply_to") else None,
            "_data": {"key": {"remoteJid": chat.replace("@c.us", "@s.whatsapp.net"),
                              "fromMe": True, "id": wa_id},
                      "messageTimestamp": now, "message": {"conversation": text}, "status": 1},
        }
        if media is not None:
            message["mediaUrl"] = media["url"]
        self._remember(session, chat, message, unread=False)
        await self._emit(session, "message.any", message)
        self._spawn(self._acks(session, message))
        if self.send_answer == "wamessage":
            documented = {**message, "to": chat, "participant": "", "mediaUrl": ""}
            return 201, documented
        return 201, {"key": dict(message["_data"]["key"]), "message": {"conversation": text},
                     "messageTimestamp": str(now), "status": "PENDING"}

    def _keep_file(self, session: FakeSession, message_id: str,
                   file: dict[str, Any]) -> dict[str, Any]:
        mimetype = str(file["mimetype"])
        if "data" in file:
            content = base64.b64decode(file["data"])
        else:
            content = f"fake download of {file['url']}".encode()
        extension = mimetypes.guess_extension(mimetype.split(";")[0]) or ".bin"
        filename = message_id + extension
        session.files[filename] = (content, mimetype)
        return {"url": f"{self.url}/api/files/{session.name}/{filename}", "mimetype": mimetype,
                "filename": file.get("filename"), "error": None}

    async def _acks(self, session: FakeSession, message: dict[str, Any]) -> None:
        for level in (1, 2):
            await asyncio.sleep(0.02)
            message["ack"], message["ackName"] = level, ACK_NAMES[level]
            await self._emit(session, "message.ack", {
                "id": message["id"], "from": message["from"], "to": None, "participant": None,
                "fromMe": True, "ack": level, "ackName": ACK_NAMES[level],
                "_data": {"key": dict(message["_data"]["key"]), "update": {"status": level + 1}},
            })

    async def _seen(self, session: FakeSession | None, req: CheckedRequest,
                    _: web.Request) -> tuple[int, Any]:
        if session is None or session.status != "WORKING":
            return 422, _status_error(session, ["WORKING"])
        chat = session.chats.get(req.body["chatId"])
        if chat is not None:
            chat["unreadCount"] = 0
        return 201, {}

    async def _typing(self, session: FakeSession | None, _: CheckedRequest,
                      __: web.Request) -> tuple[int, Any]:
        if session is None or session.status != "WORKING":
            return 422, _status_error(session, ["WORKING"])
        return 201, None

    async def _react(self, session: FakeSession | None, _: CheckedRequest,
                     __: web.Request) -> tuple[int, Any]:
        if session is None or session.status != "WORKING":
            return 422, _status_error(session, ["WORKING"])
        return 200, {}

    async def _chats_overview(self, session: FakeSession | None, req: CheckedRequest,
                              _: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        chats = sorted(reversed(session.chats.values()), key=lambda c: c["conversationTimestamp"],
                       reverse=True)
        offset = int(float(req.query.get("offset", "0")))
        limit = int(float(req.query.get("limit", "20")))
        return 200, [
            {"id": chat["id"], "name": chat["name"], "picture": None,
             "lastMessage": session.messages[chat["id"]][-1], "_chat": dict(chat)}
            for chat in chats[offset:offset + limit]
        ]

    async def _chat_messages(self, session: FakeSession | None, req: CheckedRequest,
                             _: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        found = list(session.messages.get(req.path_params["chatId"], []))
        q = req.query
        if "filter.timestamp.lte" in q:
            found = [m for m in found if m["timestamp"] <= float(q["filter.timestamp.lte"])]
        if "filter.timestamp.gte" in q:
            found = [m for m in found if m["timestamp"] >= float(q["filter.timestamp.gte"])]
        found.sort(key=lambda m: m["timestamp"], reverse=q.get("sortOrder", "desc") == "desc")
        offset = int(float(q.get("offset", "0")))
        return 200, found[offset:offset + int(float(q["limit"]))]

    async def _chat_message(self, session: FakeSession | None, req: CheckedRequest,
                            _: web.Request) -> tuple[int, Any]:
        found = self._find(session, req.path_params["chatId"], req.path_params["messageId"])
        if found is None:
            return 404, _nest(404, "Message not found")
        return 200, found

    async def _edit(self, session: FakeSession | None, req: CheckedRequest,
                    _: web.Request) -> tuple[int, Any]:
        found = self._find(session, req.path_params["chatId"], req.path_params["messageId"])
        if found is None or session is None:
            return 404, _nest(404, "Message not found")
        found["body"] = req.body["text"]
        await self._emit(session, "message.edited", {**found, "editedMessageId":
                                                     found["_data"]["key"]["id"]})
        return 200, {"key": dict(found["_data"]["key"]), "status": "PENDING"}

    async def _contacts(self, session: FakeSession | None, req: CheckedRequest,
                        _: web.Request) -> tuple[int, Any]:
        if session is None:
            return 404, _nest(404, "Session not found")
        ids = sorted({*session.chats, "14155550188@c.us", "120363025246125486@g.us"})
        offset = int(float(req.query.get("offset", "0")))
        limit = int(float(req.query.get("limit", "100")))
        return 200, [
            {"id": jid, "name": None if jid.startswith("1415555") else "Acme x Partners",
             "pushname": "Jane Doe" if jid.endswith("@c.us") else None}
            for jid in ids[offset:offset + limit]
        ]

    async def _picture(self, session: FakeSession | None, req: CheckedRequest,
                       _: web.Request) -> tuple[int, Any]:
        contact = req.query["contactId"]
        url = None if contact.startswith("0") else f"https://pps.whatsapp.net/v/{contact}.jpg"
        return 200, {"profilePictureURL": url}

    async def _inbound(self, name: str, sender: str, text: str) -> bytes:
        session = self.sessions[name]
        template = json.loads((FIXTURES / "message.json").read_text("utf-8"))["payload"]
        wa_id = secrets.token_hex(10).upper()
        now = int(time.time())
        template.update(id=f"false_{sender}_{wa_id}", timestamp=now, **{"from": sender},
                        body=text)
        template["_data"]["key"].update(remoteJid=sender.replace("@c.us", "@s.whatsapp.net"),
                                        id=wa_id)
        template["_data"]["messageTimestamp"] = now
        template["_data"]["message"]["conversation"] = text
        self._remember(session, sender, template, unread=True)
        sent = await self._emit(session, "message", template)
        await self._emit(session, "message.any", template)
        return sent

    def _remember(self, session: FakeSession, chat: str, message: dict[str, Any], *,
                  unread: bool) -> None:
        before = session.chats.pop(chat, {"unreadCount": 0})
        session.chats[chat] = {"id": chat, "name": None,
                               "conversationTimestamp": message["timestamp"],
                               "unreadCount": before["unreadCount"] + 1 if unread else 0}
        session.messages.setdefault(chat, []).append(message)

    def _find(self, session: FakeSession | None, chat: str,
              message_id: str) -> dict[str, Any] | None:
        if session is None:
            return None
        return next((m for m in session.messages.get(chat, []) if m["id"] == message_id), None)

    # events out ---------------------------------------------------------------------------------

    async def _emit(self, session: FakeSession, event: str, payload: dict[str, Any]) -> bytes:
        envelope: dict[str, Any] = {
            "id": "evt_" + _ulid(), "timestamp": _ms(), "event": event, "session": session.name,
            "metadata": {},
        }
        if session.me is not None:
            envelope["me"] = session.me
        envelope.update(payload=payload, engine="NOWEB", environment={
            "version": VERSION, "engine": "NOWEB", "tier": "CORE", "browser": None,
            "platform": "linux/x64", "worker": {"id": None}})
        return await self._emit_event(session, envelope)

    async def _emit_event(self, session: FakeSession, event: dict[str, Any]) -> bytes:
        event["session"] = session.name
        problems = self.spec.event_errors(event)
        if problems:
            self.violations.append(f"the fake emitted an invalid {event.get('event')}: {problems}")
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        for hook in session.config.get("webhooks") or []:
            events = hook.get("events") or []
            if "*" not in events and event["event"] not in events:
                continue
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"WAHA/{VERSION}",
                "X-Webhook-Request-Id": "wh_" + _ulid(),
                "X-Webhook-Timestamp": str(_ms()),
            }
            key = (hook.get("hmac") or {}).get("key")
            if key:
                headers["X-Webhook-Hmac"] = hmac.new(key.encode(), body,
                                                     hashlib.sha512).hexdigest()
                headers["X-Webhook-Hmac-Algorithm"] = "sha512"
            delivery = Delivery(session.name, event["event"], hook["url"], body, headers)
            with self._lock:
                self.deliveries.append(delivery)
            assert self._outbox is not None
            await self._outbox.put((delivery, hook.get("retries")))
        return body

    async def _deliver_forever(self) -> None:
        assert self._outbox is not None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client:
            while True:
                delivery, retries = await self._outbox.get()
                attempts = int((retries or {}).get("attempts", 0)) + 1
                delay = float((retries or {}).get("delaySeconds", 2)) * self.retry_delay_scale
                for attempt in range(attempts):
                    try:
                        async with client.post(delivery.url, data=delivery.body,
                                               headers=delivery.headers) as response:
                            await response.read()
                            delivery.statuses.append(response.status)
                            if 200 <= response.status < 300:
                                break
                    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                        delivery.statuses.append(type(exc).__name__)
                    await asyncio.sleep(delay * (2 ** attempt))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _dto(session: FakeSession) -> dict[str, Any]:
    return {"name": session.name, "status": session.status, "config": session.config}


def _info(session: FakeSession) -> dict[str, Any]:
    return {**_dto(session), "me": session.me if session.status == "WORKING" else None,
            "engine": {"engine": "NOWEB"}, "presence": None, "timestamps": {"activity": None}}


def _status_error(session: FakeSession | None, expected: list[str]) -> dict[str, Any]:
    return {"error": "Session status is not as expected. Try again later or restart the session",
            "session": session.name if session else None,
            "status": session.status if session else None, "expected": expected}


def _nest(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message,
            "error": {404: "Not Found", 422: "Unprocessable Entity"}.get(status, "Error")}


def _error(status: int, message: Any) -> web.Response:
    reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
              501: "Not Implemented"}.get(status, "Error")
    return web.json_response({"statusCode": status, "message": message, "error": reason},
                             status=status)


def _ms() -> int:
    return time.time_ns() // 1_000_000


def _ulid() -> str:
    value = _ms() << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))
