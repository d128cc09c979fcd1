"""Docs that cannot drift: every setting, CLI command and event is documented, every docs page is
linked from the README, and the README's first screen gives the two setup commands."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from wahooks.cli import main
from wahooks.config import Settings
from wahooks.schemas import EVENT_NAMES

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text("utf-8")
DOCS = ROOT / "docs"


def _doc(name: str) -> str:
    return (DOCS / name).read_text("utf-8")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    assert f"`WAHOOKS_{field.upper()}`" in _doc("settings.md")


def test_every_documented_setting_exists() -> None:
    documented = set(re.findall(r"`(WAHOOKS_[A-Z_]+)`", _doc("settings.md")))
    known = {f"WAHOOKS_{field.upper()}" for field in Settings.model_fields}
    # WAHOOKS_DATABASE_URL is WAHOOKS_DATABASE's other name; WAHOOKS_CONFIG is the CLI's.
    assert documented - known <= {"WAHOOKS_DATABASE_URL", "WAHOOKS_CONFIG"}


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
    assert f"`{command}" in _doc("cli.md")


@pytest.mark.parametrize("event", [name for name in EVENT_NAMES if name != "*"])
def test_every_event_is_in_the_catalogue(event: str) -> None:
    assert f"### `{event}`" in _doc("events.md")


@pytest.mark.parametrize("page", sorted(path.name for path in DOCS.glob("*.md")))
def test_every_docs_page_is_linked_from_the_readme(page: str) -> None:
    assert f"(docs/{page}" in README


def test_relative_links_point_at_files() -> None:
    for path in [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text("utf-8")):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_the_first_screen_gives_the_two_setup_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:20])
    block = first_screen.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    serve, test = commands
    # On a fresh machine in one line, with the command spelled where the venv puts it.
    assert serve.startswith("python3 -m venv .venv && ") and ".venv/bin/wahooks serve" in serve
    assert "'.[server]'" in serve
    assert test == "scripts/test"
