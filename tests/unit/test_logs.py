"""Log lines never carry an API token."""

from __future__ import annotations

import logging

from wahooks.logs import ExtrasFormatter

TOKEN = "wh_" + "0123456789abcdef" * 3


def _line(message: str, *args: object, **extra: object) -> str:
    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return ExtrasFormatter("%(levelname)s %(message)s").format(record)


def test_a_websocket_path_keeps_only_the_tokens_prefix() -> None:
    line = _line('%s - "WebSocket %s" [accepted]', "127.0.0.1:5",
                 f"/api/ws?token={TOKEN}&envelope=true")
    assert TOKEN not in line
    assert "token=wh_0123456...&envelope=true" in line


def test_tokens_in_extras_and_odd_query_tokens_are_hidden_too() -> None:
    assert TOKEN not in _line("login", token=TOKEN)
    assert _line("ws %s", "/api/ws?token=not-a-wh-token") == "INFO ws /api/ws?token=***"


def test_other_lines_are_untouched() -> None:
    assert _line("delivered %s", "x", action="delivery") == "INFO delivered x action=delivery"
