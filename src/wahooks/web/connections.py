"""Dashboard pages for connections: the list, one connection (QR, chats, messages, send), and the
sandbox engine's simulated phone (scan the QR, a contact writes)."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wahooks.engines.messages import TextMessage
from wahooks.errors import BadRequest, WahooksError
from wahooks.models import Connection, ConnectionStatus
from wahooks.web.render import Form, action, page, redirect, render
from wahooks.web.session import Session

if TYPE_CHECKING:
    from wahooks.services import Services

@runtime_checkable
class SimulatedPhone(Protocol):
    """What the sandbox buttons drive: an engine that simulates the phone (the sandbox's). Asked of
    the engine by shape, so the web layer names no engine."""

    async def scan(self, connection: Connection) -> None: ...
    async def inbound(self, connection: Connection, sender: str, body: str) -> str: ...


_CONTACT = re.compile(r"^\d{5,20}@c\.us$")
MAX_TEXT = 4096
BADGES = {
    ConnectionStatus.PENDING: "starting",
    ConnectionStatus.SCAN_QR: "waiting for scan",
    ConnectionStatus.WORKING: "connected",
    ConnectionStatus.FAILED: "failed",
    ConnectionStatus.STOPPED: "deleted",
}


def _view(connection: Connection) -> dict[str, Any]:
    return {"c": connection, "badge": BADGES[connection.status], "state": connection.status.value}


@page
async def connections_page(request: Request, services: Services, session: Session) -> Response:
    found = await services.connections.list(session.user)
    return render(request, "connections.html", session,
                  connections=[_view(c) for c in found],
                  sandbox=isinstance(services.engine, SimulatedPhone))


async def _qr(services: Services, connection: Connection) -> str | None:
    """The QR as a data: URL while the phone is not linked yet (None once it is, or not ready)."""
    if connection.status not in (ConnectionStatus.PENDING, ConnectionStatus.SCAN_QR):
        return None
    try:
        png = await services.engine.qr_png(connection)
    except WahooksError:
        return None
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode()


async def _connection_context(
    services: Services, session: Session, connection_id: str
) -> dict[str, Any]:
    connection = await services.connections.owned(session.user, connection_id)
    return {**_view(connection), "qr": await _qr(services, connection),
            "sandbox": isinstance(services.engine, SimulatedPhone)}


@page
async def connection_page(request: Request, services: Services, session: Session) -> Response:
    context = await _connection_context(services, session, request.path_params["id"])
    connection = context["c"]
    assert isinstance(connection, Connection)
    chats: list[dict[str, object]] = []
    messages: list[dict[str, object]] = []
    chat_id = request.query_params.get("chat")
    if connection.status is ConnectionStatus.WORKING:
        chats = await services.engine.chats(connection, limit=50, offset=0)
        if chat_id is None and chats:
            chat_id = str(chats[0]["id"])
        if chat_id:
            messages = await services.engine.messages(
                connection, chat_id, limit=50, offset=0, until=None)
    webhooks = await services.webhooks.of_connection(connection)
    return render(request, "connection.html", session, chats=chats, messages=messages,
                  chat_id=chat_id, webhooks=webhooks, **context)


@page
async def connection_status(request: Request, services: Services, session: Session) -> Response:
    """The status and QR part of a connection's page, which htmx polls until the phone is linked."""
    context = await _connection_context(services, session, request.path_params["id"])
    response = render(request, "connection_status.html", session, **context)
    if context["state"] not in ("pending", "scan_qr"):
        # Linked (or gone): the whole page changes (chats, sending), so htmx reloads it.
        response.headers["HX-Refresh"] = "true"
    return response


@action
async def create_connection(
    request: Request, services: Services, session: Session, form: Form
) -> Response:
    name = (form.get("name") or "").strip() or None
    connection = await services.connections.create(session.user, name)
    return redirect(f"/connections/{connection.id}", notice="Connection created: scan its QR code")


@action
async def rename_connection(
    request: Request, services: Services, session: Session, form: Form
) -> Response:
    connection = await services.connections.owned(session.user, request.path_params["id"])
    name = (form.get("name") or "").strip() or None
    await services.connections.rename(connection, name)
    return redirect(f"/connections/{connection.id}", notice="Renamed")


@action
async def restart_connection(
    request: Request, services: Services, session: Session, form: Form
) -> Response:
    connection = await services.connections.owned(session.user, request.path_params["id"])
    await services.connections.restart(connection)
    return redirect(f"/connections/{connection.id}", notice="Restarted: scan the new QR code")


@action
async def delete_connection(
    request: Request, services: Services, session: Session, form: Form
) -> Response:
    connection = await services.connections.owned(session.user, request.path_params["id"])
    if form.get("confirm") != "yes":
        raise BadRequest("Tick the box to confirm the deletion")
    await services.connections.delete(connection)
    return redirect("/connections", notice="Connection deleted")


@action
async def send_text(request: Request, services: Services, session: Session, form: Form) -> Response:
    connection = await services.connections.owned(session.user, request.path_params["id"])
    chat_id = (form.get("chatId") or "").strip()
    text = form.get("text") or ""
    if not chat_id or len(chat_id) > 128:
        raise BadRequest("chat must be a chat id such as 14155550123@c.us")
    if not text or len(text) > MAX_TEXT:
        raise BadRequest(f"text must be 1 to {MAX_TEXT} characters")
    await services.engine.send(connection, TextMessage(chat_id, text))
    return redirect(f"/connections/{connection.id}?chat={chat_id}", notice="Sent")


def _phone(services: Services) -> SimulatedPhone:
    engine = services.engine
    if not isinstance(engine, SimulatedPhone):
        raise BadRequest("Only the sandbox engine simulates a phone")
    return engine


@action
async def sandbox_scan(request: Request, services: Services, session: Session, form: Form) -> Response:
    phone = _phone(services)
    connection = services.connections.require_live(
        await services.connections.owned(session.user, request.path_params["id"]))
    await phone.scan(connection)
    return redirect(f"/connections/{connection.id}", notice="The simulated phone scanned the QR")


@action
async def sandbox_inbound(
    request: Request, services: Services, session: Session, form: Form
) -> Response:
    phone = _phone(services)
    connection = await services.connections.owned(session.user, request.path_params["id"])
    sender = (form.get("from") or "").strip()
    text = form.get("body") or ""
    if not _CONTACT.match(sender):
        raise BadRequest("from must be a WhatsApp contact id such as 14155550123@c.us")
    if not text or len(text) > MAX_TEXT:
        raise BadRequest(f"message must be 1 to {MAX_TEXT} characters")
    await phone.inbound(connection, sender, text)
    return redirect(f"/connections/{connection.id}?chat={sender}",
                    notice="A simulated contact wrote")


routes = [
    Route("/connections", connections_page, methods=["GET"]),
    Route("/connections", create_connection, methods=["POST"]),
    Route("/connections/{id}", connection_page, methods=["GET"]),
    Route("/connections/{id}/status", connection_status, methods=["GET"]),
    Route("/connections/{id}/rename", rename_connection, methods=["POST"]),
    Route("/connections/{id}/restart", restart_connection, methods=["POST"]),
    Route("/connections/{id}/delete", delete_connection, methods=["POST"]),
    Route("/connections/{id}/send", send_text, methods=["POST"]),
    Route("/connections/{id}/sandbox/scan", sandbox_scan, methods=["POST"]),
    Route("/connections/{id}/sandbox/inbound", sandbox_inbound, methods=["POST"]),
]
