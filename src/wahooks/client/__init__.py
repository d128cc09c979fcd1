"""The WAHooks Python SDK: `WAHooks` (blocking), `AsyncWAHooks` (asyncio), live events, and
`verify_signature` for receivers. It imports no server dependency: only httpx, and the
`websockets` package once a live event stream starts."""

from wahooks.client.async_client import AsyncWAHooks
from wahooks.client.errors import WAHooksError
from wahooks.client.stream import AsyncWAHooksEventStream, WAHooksEventStream
from wahooks.client.sync_client import WAHooks
from wahooks.signing import (
    InvalidSignature,
    MissingSignatureHeaders,
    SignatureVerificationError,
    TimestampOutsideTolerance,
    standard_webhooks_secret,
    verify_signature,
)

__all__ = [
    "AsyncWAHooks",
    "AsyncWAHooksEventStream",
    "InvalidSignature",
    "MissingSignatureHeaders",
    "SignatureVerificationError",
    "TimestampOutsideTolerance",
    "WAHooks",
    "WAHooksError",
    "WAHooksEventStream",
    "standard_webhooks_secret",
    "verify_signature",
]
