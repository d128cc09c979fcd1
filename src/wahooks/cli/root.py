"""The root `wahooks` group every command module attaches to."""

from __future__ import annotations

import click

from wahooks.cli.aliases import AliasedGroup
from wahooks.version import __version__


@click.group(cls=AliasedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wahooks")
def main() -> None:
    """wahooks: WhatsApp events delivered to your webhooks, signed, retried and logged."""
