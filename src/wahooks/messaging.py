"""Sending messages: the rules a send follows before an engine sees it.

Every URL a message carries is a URL an engine fetches (WAHA downloads a media URL itself), so it
goes through the same target policy as a webhook URL, with the same --allow-private-targets
switch: a media URL at a metadata, loopback or private address is refused with a 400 naming the
reason. The name it resolves to is checked now, as for a webhook; the engine resolves it again
when it fetches, out of our reach, so a name re-pointed in between (DNS rebinding) is not caught
here. Then the human-like presence, then the engine's send.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wahooks.delivery.targets import TargetPolicy
from wahooks.engines.base import Engine
from wahooks.engines.messages import MediaMessage, OutgoingMessage, presence_length
from wahooks.engines.presence import Presence
from wahooks.models import Connection

MEDIA_URL = "media URL"


class MessagingService:
    def __init__(self, engine: Engine, targets: TargetPolicy, *, presence_factor: float) -> None:
        self._engine = engine
        self._targets = targets
        self._presence_factor = presence_factor

    async def send(
        self, connection: Connection, message: OutgoingMessage, *, skip_presence: bool
    ) -> dict[str, Any]:
        message = await self._checked(message)
        if not skip_presence:
            presence = Presence(self._presence_factor)
            await presence.before_send(
                self._engine, connection, message.chat_id, presence_length(message)
            )
        return await self._engine.send(connection, message)

    async def _checked(self, message: OutgoingMessage) -> OutgoingMessage:
        """The message with its URLs judged by the target policy (and normalised: the engine
        gets the address that was judged, not another spelling of it)."""
        if not isinstance(message, MediaMessage) or message.file.url is None:
            return message
        url = await self._targets.check_url_resolving(message.file.url, label=MEDIA_URL)
        return dataclasses.replace(message, file=dataclasses.replace(message.file, url=url))
