"""`wahooks mcp`: an MCP server on stdio for AI agents, acting through a wahooks server's API."""

from __future__ import annotations

import click

from wahooks.cli import output
from wahooks.cli.api_access import LOGIN_HINT, load_config
from wahooks.cli.root import main


@main.command("mcp")
@click.option("--token", envvar="WAHOOKS_TOKEN", metavar="wh_...",
              help="The API token the tools act with [env WAHOOKS_TOKEN; default: the saved login]")
@click.option("--api-url", envvar="WAHOOKS_API_URL", metavar="URL",
              help="The server's base URL [env WAHOOKS_API_URL; default: the saved one]")
def mcp(token: str | None, api_url: str | None) -> None:
    """Serve the MCP tools on stdin/stdout (for Claude Desktop, Cursor, ...)."""
    config = load_config()
    token = token or config.token
    if not token:
        output.fail(f"No token: give --token, or log in first ({config.path} holds none)",
                    LOGIN_HINT)
    # Imported here: the rest of the CLI starts without the MCP package.
    from wahooks.logs import configure
    from wahooks.mcp.stdio import run_stdio

    configure("warning")  # stderr only: stdout carries the protocol
    run_stdio(token, (api_url or config.api_url).rstrip("/"))
