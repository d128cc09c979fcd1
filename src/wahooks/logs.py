"""Log lines for people: `time level logger: message key=value ...` with the record's extras,
and never an API token: a `wh_` token anywhere in a line (uvicorn logs WebSocket paths with their
`?token=` query, for one) is cut to its public prefix."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"\b(wh_[0-9a-f]{7})[0-9a-f]{41}\b")
_TOKEN_IN_QUERY = re.compile(r"(?<=[?&]token=)(?!wh_)[^&\s\"']+")

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message",
}


class ExtrasFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(
            f"{key}={value}" for key, value in vars(record).items() if key not in _STANDARD
        )
        line = f"{line} {extras}" if extras else line
        return _TOKEN_IN_QUERY.sub("***", _TOKEN.sub(r"\1...", line))


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(ExtrasFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
