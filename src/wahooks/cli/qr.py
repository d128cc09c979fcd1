"""Showing a connection's QR code: drawn in the terminal from the QR's text where the server
offers it (`GET /api/connections/:id/qr?format=raw` -> `{"value": "<text>"}`, WAHA's raw form),
else the PNG the API answers is saved to a file whose path is printed."""

from __future__ import annotations

import base64
import binascii
import io
import tempfile
from pathlib import Path

import segno

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bytes(value: str) -> bytes | None:
    """The PNG a QR answer's `value` holds, or None when it is the QR's text."""
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if decoded.startswith(PNG_SIGNATURE) else None


def terminal_qr(text: str) -> str:
    """The QR code for `text` in half-block characters, two modules per character row."""
    drawing = io.StringIO()
    segno.make(text, error="m").terminal(out=drawing, compact=True)
    return drawing.getvalue()


def default_png_path(connection_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"wahooks-qr-{connection_id[:8]}.png"


def save_png(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
