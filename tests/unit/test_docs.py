"""Docs that cannot drift: every setting and every CLI command is in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from wahooks.cli import main
from wahooks.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text("utf-8")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    assert f"`WAHOOKS_{field.upper()}`" in README


def _commands(group: click.Group, prefix: str = "wahooks") -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("command", sorted(_commands(main)))
def test_every_cli_command_is_documented(command: str) -> None:
    assert command in README


def test_the_first_screen_gives_the_two_setup_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:20])
    assert "wahooks serve" in first_screen
    assert "scripts/test" in first_screen
