"""Sending messages, reactions and read receipts through a connected connection.

Media goes as a URL the engine fetches, or as the file itself in base64 with its MIME type; the
API refuses both or neither. Each answer is the sent message with its `id`.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from wahooks.mcp.calls import call
from wahooks.mcp.parameters import (
    Caption,
    ChatId,
    ConnectionId,
    MediaData,
    MediaUrl,
    MessageId,
    Mimetype,
    SkipPresence,
)
from wahooks.mcp.tools.registry import ToolSet

tools = ToolSet()


@tools.write
async def send_text(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    text: Annotated[str, Field(description="The message")],
    reply_to: Annotated[str | None, Field(description="The id of a message to quote")] = None,
    skip_presence: SkipPresence = False,
) -> dict[str, Any]:
    """Send a text message."""
    return await call(ctx, lambda api: api.send_message(
        connection_id, chat_id, text, skip_presence=skip_presence, reply_to=reply_to
    ))


@tools.write
async def send_image(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    url: MediaUrl = None,
    data: MediaData = None,
    mimetype: Mimetype = None,
    caption: Caption = None,
    skip_presence: SkipPresence = False,
) -> dict[str, Any]:
    """Send an image, from a URL or base64 data."""
    return await call(ctx, lambda api: api.send_image(
        connection_id, chat_id, url=url, data=data, mimetype=mimetype, caption=caption,
        skip_presence=skip_presence,
    ))


@tools.write
async def send_document(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    url: MediaUrl = None,
    data: MediaData = None,
    mimetype: Mimetype = None,
    filename: Annotated[str | None, Field(description="The file name the chat shows")] = None,
    caption: Caption = None,
    skip_presence: SkipPresence = False,
) -> dict[str, Any]:
    """Send a document (any file), from a URL or base64 data."""
    return await call(ctx, lambda api: api.send_document(
        connection_id, chat_id, url=url, data=data, mimetype=mimetype, filename=filename,
        caption=caption, skip_presence=skip_presence,
    ))


@tools.write
async def send_video(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    url: MediaUrl = None,
    data: MediaData = None,
    mimetype: Mimetype = None,
    caption: Caption = None,
    skip_presence: SkipPresence = False,
) -> dict[str, Any]:
    """Send a video, from a URL or base64 data."""
    return await call(ctx, lambda api: api.send_video(
        connection_id, chat_id, url=url, data=data, mimetype=mimetype, caption=caption,
        skip_presence=skip_presence,
    ))


@tools.write
async def send_audio(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    url: MediaUrl = None,
    data: MediaData = None,
    mimetype: Mimetype = None,
    skip_presence: SkipPresence = False,
) -> dict[str, Any]:
    """Send a voice message, from a URL or base64 data."""
    return await call(ctx, lambda api: api.send_audio(
        connection_id, chat_id, url=url, data=data, mimetype=mimetype,
        skip_presence=skip_presence,
    ))


@tools.write
async def send_location(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    latitude: Annotated[float, Field(ge=-90, le=90, description="Degrees north")],
    longitude: Annotated[float, Field(ge=-180, le=180, description="Degrees east")],
    name: Annotated[str | None, Field(description="The place's name")] = None,
    address: Annotated[str | None, Field(description="The place's address")] = None,
    skip_presence: SkipPresence = False,
) -> dict[str, Any]:
    """Send a location pin."""
    return await call(ctx, lambda api: api.send_location(
        connection_id, chat_id, latitude, longitude, name, address, skip_presence
    ))


@tools.write
async def send_contact(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    contact_name: Annotated[str, Field(description="The contact's name")],
    contact_phone: Annotated[str, Field(description="The contact's phone number, e.g. +14155550123")],
    skip_presence: SkipPresence = False,
) -> dict[str, Any]:
    """Send a contact card."""
    return await call(ctx, lambda api: api.send_contact(
        connection_id, chat_id, contact_name, contact_phone, skip_presence
    ))


@tools.write
async def react(
    ctx: Context,
    connection_id: ConnectionId,
    chat_id: ChatId,
    message_id: MessageId,
    reaction: Annotated[str, Field(description="An emoji; an empty string removes the reaction")],
) -> dict[str, Any]:
    """React to a message with an emoji."""
    return await call(ctx, lambda api: api.react(connection_id, chat_id, message_id, reaction))


@tools.write
async def mark_read(ctx: Context, connection_id: ConnectionId, chat_id: ChatId) -> dict[str, Any]:
    """Mark a chat's messages as read (the contact sees blue ticks)."""
    return await call(ctx, lambda api: api.mark_read(connection_id, chat_id))
