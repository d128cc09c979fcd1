"""What a linked WAHA session holds and does: its account, chats, contacts, messages and media.

Each call goes to the server that runs the connection's session; WAHA's refusals are said the way
our API says them (400, 404, 409), and anything else WAHA answers is passed on as a 502.
"""

from __future__ import annotations

from typing import Any

from wahooks.engines.messages import MediaContent, OutgoingMessage, split_message_id
from wahooks.engines.waha.client import WahaRefused, segment
from wahooks.engines.waha.payloads import chat_json, contact_json, send_request
from wahooks.engines.waha.sessions import WahaSessions
from wahooks.errors import BadRequest, Conflict, EngineError, NotFound, WahooksError
from wahooks.models import Connection
from wahooks.storage.records import WahaSession


class WahaMessaging:
    """The engine protocol's account and messaging half, for the WAHA engine."""

    def __init__(self, sessions: WahaSessions) -> None:
        self._sessions = sessions

    async def me(self, connection: Connection) -> dict[str, Any] | None:
        session = await self._sessions.of(connection)
        try:
            answer = await self._sessions.client(session).call(
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
        session = await self._sessions.of(connection)
        answer = await self._call(
            session, "GET", f"/api/{segment(session.session_name)}/chats/overview",
            params={"limit": limit, "offset": offset},
        )
        return [chat_json(chat) for chat in _list(answer)]

    async def send(self, connection: Connection, message: OutgoingMessage) -> dict[str, Any]:
        session = await self._sessions.of(connection)
        path, body = send_request(session.session_name, message)
        answer = await self._call(session, "POST", path, json=body)
        return answer if isinstance(answer, dict) else {"result": answer}

    async def mark_read(self, connection: Connection, chat_id: str) -> None:
        session = await self._sessions.of(connection)
        await self._call(session, "POST", "/api/sendSeen",
                         json={"session": session.session_name, "chatId": chat_id})

    async def set_typing(self, connection: Connection, chat_id: str, typing: bool) -> None:
        session = await self._sessions.of(connection)
        path = "/api/startTyping" if typing else "/api/stopTyping"
        await self._call(session, "POST", path,
                         json={"session": session.session_name, "chatId": chat_id})

    async def react(self, connection: Connection, message_id: str, reaction: str) -> None:
        session = await self._sessions.of(connection)
        await self._call(session, "PUT", "/api/reaction", json={
            "session": session.session_name, "messageId": message_id, "reaction": reaction,
        })

    async def edit_message(
        self, connection: Connection, chat_id: str, message_id: str, text: str
    ) -> dict[str, Any]:
        session = await self._sessions.of(connection)
        answer = await self._call(session, "PUT", self._message_path(session, chat_id, message_id),
                                  json={"text": text})
        return answer if isinstance(answer, dict) else {"success": True}

    async def messages(
        self, connection: Connection, chat_id: str, *, limit: int, offset: int, until: int | None
    ) -> list[dict[str, Any]]:
        session = await self._sessions.of(connection)
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
        session = await self._sessions.of(connection)
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
        session = await self._sessions.of(connection)
        answer = await self._call(session, "GET", "/api/contacts/all", params={
            "session": session.session_name, "limit": limit, "offset": offset, "sortBy": "id",
        })
        return [contact_json(contact) for contact in _list(answer)]

    async def profile_picture(self, connection: Connection, contact_id: str) -> str | None:
        session = await self._sessions.of(connection)
        answer = await self._call(session, "GET", "/api/contacts/profile-picture", params={
            "session": session.session_name, "contactId": contact_id,
        })
        if isinstance(answer, dict):
            for key in ("profilePictureURL", "profilePictureUrl", "url"):
                if isinstance(answer.get(key), str):
                    return str(answer[key])
        return answer if isinstance(answer, str) and answer else None

    async def media(self, connection: Connection, filename: str) -> MediaContent | None:
        session = await self._sessions.of(connection)
        return await self._file(session, f"/api/files/{segment(session.session_name)}/"
                                         f"{segment(filename)}")

    async def message_media(
        self, connection: Connection, chat_id: str, message_id: str
    ) -> MediaContent | None:
        session = await self._sessions.of(connection)
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

    async def _call(self, session: WahaSession, method: str, path: str, **kwargs: Any) -> Any:
        """A messaging call, WAHA's refusals said the way our API says them."""
        try:
            return await self._sessions.client(session).call(method, path, **kwargs)
        except WahaRefused as exc:
            raise _as_api_error(exc) from None

    async def _file(self, session: WahaSession, path: str) -> MediaContent | None:
        try:
            body, content_type = await self._sessions.client(session).fetch(path)
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
