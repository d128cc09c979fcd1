"""The `wahooks` command: one tree for the operator (serve, accounts, the database) and, from the
client modules, for everyone who drives a wahooks server through its API."""

from __future__ import annotations

# Importing a command module registers its commands on `main`.
from wahooks.cli import account_commands as _account_commands  # noqa: F401
from wahooks.cli import connection_commands as _connection_commands  # noqa: F401
from wahooks.cli import listen as _listen  # noqa: F401
from wahooks.cli import mcp_command as _mcp_command  # noqa: F401
from wahooks.cli import operator_commands as _operator_commands  # noqa: F401
from wahooks.cli import sandbox_commands as _sandbox_commands  # noqa: F401
from wahooks.cli import server as _server  # noqa: F401
from wahooks.cli import webhook_commands as _webhook_commands  # noqa: F401
from wahooks.cli.root import main

__all__ = ["main"]
