"""Command aliases, as the official Go CLI has them (`wahooks c ls` = `wahooks connections list`).

Only canonical names are registered; aliases resolve in `get_command` and show in the help.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click


class AliasedCommand(click.Command):
    def __init__(self, *args: Any, aliases: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = tuple(aliases)


class AliasedGroup(click.Group):
    command_class = AliasedCommand
    group_class = type  # subgroups are AliasedGroups too

    def __init__(self, *args: Any, aliases: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = tuple(aliases)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        for candidate in self.commands.values():
            if cmd_name in getattr(candidate, "aliases", ()):
                return candidate
        return None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        _, command, rest = super().resolve_command(ctx, args)
        return (command.name if command is not None else None), command, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            aliases = getattr(command, "aliases", ())
            label = f"{name} ({', '.join(aliases)})" if aliases else name
            rows.append((label, command.get_short_help_str(limit=formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
