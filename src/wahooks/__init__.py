"""wahooks: WhatsApp events delivered to your webhooks, signed, retried and logged.

The package root re-exports the Python SDK (`wahooks.client`) and the receiver's signature check,
so `from wahooks import WAHooks, verify_signature` works as with the official client. They are
imported on first use: the server, which imports this package too, does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wahooks.version import __version__ as __version__

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
    "verify_signature",
]

if TYPE_CHECKING:
    from wahooks.client import (
        AsyncWAHooks,
        AsyncWAHooksEventStream,
        InvalidSignature,
        MissingSignatureHeaders,
        SignatureVerificationError,
        TimestampOutsideTolerance,
        WAHooks,
        WAHooksError,
        WAHooksEventStream,
        verify_signature,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        import wahooks.client

        return getattr(wahooks.client, name)
    raise AttributeError(f"module 'wahooks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
