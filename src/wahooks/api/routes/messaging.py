"""Messaging: send, react, read, type, edit; chats' messages, contacts, media (compat.md 1.3, 1.4).

The same routes for every engine. POSTs answer 201 like the original; a send answers the engine's
own answer (WAHA's, passed through) with a normalised `id` and `timestamp` added. Sends show
human-like presence first unless `skipPresence` is true.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from wahooks.accounts import Principal
from wahooks.api import message_bodies as bodies
from wahooks.api.deps import BodyDep, PrincipalDep, ServicesDep
from wahooks.api.openapi import ENGINE_STATUSES, errors, json_body
from wahooks.api.responses import json_response
from wahooks.engines.messages import MediaKind, with_id_and_timestamp
from wahooks.errors import BadRequest, NotFound
from wahooks.models import Connection

if TYPE_CHECKING:
    from wahooks.engines.base import Engine
    from wahooks.services import Services

router = APIRouter(tags=["messaging"], responses=errors(*ENGINE_STATUSES))

_CONNECTION = "/api/connections/{connection_id}"
MAX_MESSAGES = 500
MAX_CONTACTS = 1000
SUCCESS = {"success": True}
# The file as it is, with its own content type.
BINARY: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file",
          "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
}


async def _target(
    services: Services, principal: Principal, connection_id: str
) -> tuple[Engine, Connection]:
    connection = await services.connections.owned(principal.user, connection_id)
    return services.engine, connection


async def _send(
    services: Services,
    principal: Principal,
    connection_id: str,
    parse: Callable[[], bodies.Send],
) -> Response:
    connection = await services.connections.owned(principal.user, connection_id)
    send = parse()  # after the ownership check: a stranger learns nothing from validation
    answer = await services.messaging.send(
        connection, send.message, skip_presence=send.skip_presence
    )
    return json_response(with_id_and_timestamp(answer, send.message.chat_id), 201)


@router.post(f"{_CONNECTION}/send", status_code=201, summary="Send a text message",
             openapi_extra=json_body(bodies.TEXT_SCHEMA))
async def send_text(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    return await _send(services, principal, connection_id, lambda: bodies.text_send(body))


def _media_route(kind: MediaKind, path: str, summary: str) -> None:
    async def send_media(
        connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
    ) -> Response:
        return await _send(services, principal, connection_id,
                           lambda: bodies.media_send(body, kind))

    send_media.__name__ = f"send_{kind}"
    router.post(f"{_CONNECTION}/{path}", status_code=201, summary=summary,
                openapi_extra=json_body(bodies.MEDIA_SCHEMA))(send_media)


_media_route("image", "send-image", "Send an image (url or base64 data)")
_media_route("document", "send-document", "Send a document (url or base64 data)")
_media_route("video", "send-video", "Send a video (url or base64 data)")
_media_route("audio", "send-audio", "Send a voice message (url or base64 data)")


@router.post(f"{_CONNECTION}/send-location", status_code=201, summary="Send a location",
             openapi_extra=json_body(bodies.LOCATION_SCHEMA))
async def send_location(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    return await _send(services, principal, connection_id, lambda: bodies.location_send(body))


@router.post(f"{_CONNECTION}/send-contact", status_code=201, summary="Send a contact card",
             openapi_extra=json_body(bodies.CONTACT_SCHEMA))
async def send_contact(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    return await _send(services, principal, connection_id, lambda: bodies.contact_send(body))


@router.post(f"{_CONNECTION}/react", status_code=201,
             summary="React to a message with an emoji (empty removes it)",
             openapi_extra=json_body(bodies.REACTION_SCHEMA))
async def react(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    message_id, reaction = bodies.reaction_body(body)
    await engine.react(connection, message_id, reaction)
    return json_response(SUCCESS, 201)


@router.post(f"{_CONNECTION}/mark-read", status_code=201, summary="Mark a chat as read",
             openapi_extra=json_body(bodies.CHAT_SCHEMA))
async def mark_read(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    await engine.mark_read(connection, bodies.chat_only(body))
    return json_response(SUCCESS, 201)


@router.post(f"{_CONNECTION}/typing", status_code=201, summary="Show 'typing...' in a chat",
             openapi_extra=json_body(bodies.CHAT_SCHEMA))
async def start_typing(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    await engine.set_typing(connection, bodies.chat_only(body), True)
    return json_response(SUCCESS, 201)


@router.post(f"{_CONNECTION}/typing/stop", status_code=201, summary="Stop showing 'typing...'",
             openapi_extra=json_body(bodies.CHAT_SCHEMA))
async def stop_typing(
    connection_id: str, principal: PrincipalDep, services: ServicesDep, body: BodyDep
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    await engine.set_typing(connection, bodies.chat_only(body), False)
    return json_response(SUCCESS, 201)


@router.put(f"{_CONNECTION}/messages/{{message_id}}", summary="Edit one of your messages",
            openapi_extra=json_body(bodies.EDIT_SCHEMA))
async def edit_message(
    connection_id: str, message_id: str, principal: PrincipalDep, services: ServicesDep,
    body: BodyDep,
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    chat_id, text = bodies.edit_body(body)
    return json_response(await engine.edit_message(connection, chat_id, message_id, text))


@router.get(f"{_CONNECTION}/chats/{{chat_id}}/messages",
            summary="A chat's messages, newest first, paged with a cursor")
async def chat_messages(
    connection_id: str,
    chat_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: str | None = Query(None, description="At most this many messages (1-500, default 50)"),
    before: str | None = Query(None, description="nextBefore of the previous page",
                               json_schema_extra={"pattern": r"^([0-9]+(_[0-9]+)?)?$"}),
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    size = min(max(_integer(limit, 50), 1), MAX_MESSAGES)
    until, skip = parse_cursor(before)
    batch = await engine.messages(connection, chat_id, limit=size + 1, offset=skip, until=until)
    return json_response(message_page(batch, size, until, skip))


@router.get(f"{_CONNECTION}/messages/{{message_id}}", summary="One message")
async def one_message(
    connection_id: str,
    message_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    chat_id: str | None = Query(None, alias="chatId"),
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    found = await engine.message(connection, chat_id or "", message_id)
    if found is None:
        raise NotFound("Message not found")
    return json_response(found)


@router.get(f"{_CONNECTION}/messages/{{message_id}}/media", summary="The media of one message",
            responses=BINARY)
async def message_media(
    connection_id: str,
    message_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    chat_id: str | None = Query(None, alias="chatId"),
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    media = await engine.message_media(connection, chat_id or "", message_id)
    if media is None:
        raise NotFound("Media not found")
    return Response(media.body, media_type=media.content_type)


@router.get(f"{_CONNECTION}/contacts", summary="Contacts")
async def contacts(
    connection_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: str | None = Query(None, description="At most this many (1-1000, default 100)"),
    offset: str | None = Query(None, description="Skip this many"),
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    found = await engine.contacts(
        connection,
        limit=min(max(_integer(limit, 100), 1), MAX_CONTACTS),
        offset=max(_integer(offset, 0), 0),
    )
    return json_response(found)


@router.get(f"{_CONNECTION}/contacts/{{contact_id}}/picture",
            summary="A contact's profile picture URL")
async def contact_picture(
    connection_id: str, contact_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    url = await engine.profile_picture(connection, contact_id)
    return json_response({"profilePictureUrl": url})


@router.get(f"{_CONNECTION}/media/{{filename:path}}", summary="A media file of this connection",
            responses=BINARY)
async def media_file(
    connection_id: str, filename: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    engine, connection = await _target(services, principal, connection_id)
    if not filename or ".." in filename or "/" in filename or "\\" in filename:
        raise NotFound("Invalid filename")
    media = await engine.media(connection, filename)
    if media is None:
        raise NotFound("Media not found")
    return Response(media.body, media_type=media.content_type)


# the message cursor -----------------------------------------------------------------------------


def parse_cursor(before: str | None) -> tuple[int | None, int]:
    """`nextBefore` is `<timestamp>_<n>`: messages at or before that second, skipping the n at
    that very second already shown. A bare timestamp means strictly before it."""
    if before is None or before == "":
        return None, 0
    stamp, sep, skip = before.partition("_")
    if stamp.isdigit() and not sep:
        return int(stamp) - 1, 0
    if stamp.isdigit() and skip.isdigit():
        return int(stamp), int(skip)
    raise BadRequest("before must be the nextBefore of a previous page")


def message_page(
    batch: list[dict[str, Any]], size: int, until: int | None, skip: int
) -> dict[str, Any]:
    """One page from `size + 1` messages fetched: the cursor to the next, or where history
    starts when this was the last page."""
    page = batch[:size]
    if len(batch) <= size:
        oldest = _timestamp(page[-1]) if page else None
        return {"messages": page, "nextBefore": None, "historyStartsAt": oldest}
    last = _timestamp(page[-1])
    shown_at_last = sum(1 for message in page if _timestamp(message) == last)
    if until == last:
        shown_at_last += skip
    return {"messages": page, "nextBefore": f"{last}_{shown_at_last}", "historyStartsAt": None}


def _timestamp(message: dict[str, Any]) -> int:
    value = message.get("timestamp")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _integer(value: str | None, default: int) -> int:
    try:
        return default if value is None else int(value)
    except ValueError:
        return default
