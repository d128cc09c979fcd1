"""The tool parameters several tools share, each with the description an agent reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ConnectionId = Annotated[str, Field(description="The connection's id (see list_connections)")]
ChatId = Annotated[str, Field(
    description="A chat id: 14155550123@c.us for a contact (country code and number, digits "
                "only), 120363...@g.us for a group"
)]
WebhookId = Annotated[str, Field(description="The webhook's id (see list_webhooks)")]
LogId = Annotated[str, Field(description="A delivery log id (see get_delivery_logs)")]
MessageId = Annotated[str, Field(description="The message's id, as in get_messages")]
SkipPresence = Annotated[bool, Field(
    description="Send at once, without first showing 'typing...' for a human-like moment"
)]
MediaUrl = Annotated[str | None, Field(description="Where to fetch the file (give url or data)")]
MediaData = Annotated[str | None, Field(
    description="The file itself, base64-encoded (give url or data; data needs mimetype)"
)]
Mimetype = Annotated[str | None, Field(description="The file's MIME type, e.g. image/jpeg")]
Caption = Annotated[str | None, Field(description="Text shown under the media")]
Limit = Annotated[int | None, Field(ge=1, description="At most this many items")]
