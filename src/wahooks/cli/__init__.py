"""The `wahooks` command: one tree for the operator (serve, accounts, the database) and, from the
client modules, for everyone who drives a wahooks server through its API."""

from __future__ import annotations

from wahooks.cli import server as _server  # noqa: F401  (registers the operator commands)
from wahooks.cli.root import main

__all__ = ["main"]
