"""The one bounded request-body reader, shared by the lean path and FastAPI's dependencies.

A body over its limit (MAX_BODY_BYTES unless the route declares a smaller one) is refused as soon
as its declared length or the bytes read so far say so, without buffering the rest.
"""

from __future__ import annotations

from starlette.types import Receive

from wahooks.errors import BadRequest, PayloadTooLarge

MAX_BODY_BYTES = 50 * 1024 * 1024  # the original's JSON body limit


async def read_body(
    receive: Receive, content_length: str | None, limit: int = MAX_BODY_BYTES
) -> bytes:
    too_large = f"The request body is over {limit} bytes"
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise PayloadTooLarge(too_large)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(too_large)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
