"""Logging in, the config file, health, and API tokens (`wahooks tokens`, alias `t`)."""

from __future__ import annotations

import click
import httpx

from wahooks.cli import output
from wahooks.cli.aliases import AliasedGroup
from wahooks.cli.api_access import Api, api_base_url, api_command, load_config
from wahooks.cli.root import main
from wahooks.client import WAHooks, WAHooksError


@main.command()
@click.option("--token", help="An API token (wh_...); asked for when not given")
@click.option("--api-url", metavar="URL",
              help="The server's base URL, e.g. http://127.0.0.1:3001 (saved too)")
@click.option("--no-verify", is_flag=True, help="Save without checking the token against the API")
def login(token: str | None, api_url: str | None, no_verify: bool) -> None:
    """Save an API token and the server's URL in ~/.wahooks.json."""
    config = load_config()
    config.api_url = api_base_url(api_url or config.api_url)
    if not token:
        token = click.prompt("API token (wh_...)", hide_input=True).strip()
    if not token.startswith("wh_"):
        output.fail("An API token starts with wh_",
                    "The server prints the owner's first token; more with `wahooks token create`.")
    who = ""
    if not no_verify:
        try:
            with WAHooks(token, base_url=config.api_url) as client:
                account = client.get_me()
            who = f" as {account.get('name') or account.get('id')}"
        except WAHooksError as exc:
            output.fail(f"The API refused the token: {exc.message}", "Nothing was saved.")
        except httpx.TransportError as exc:
            output.fail(f"API unreachable at {config.api_url}: {exc}",
                        "Nothing was saved. Use --no-verify to save anyway.")
    config.token = token
    config.save()
    output.success(f"Logged in{who} ({config.api_url})")
    output.dim(f"  Token saved to {config.path}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON")
def status(as_json: bool) -> None:
    """Show the API URL and whether a token is saved."""
    config = load_config()
    if as_json:
        return output.emit_json({
            "apiUrl": config.api_url, "authenticated": bool(config.token),
            "config": str(config.path),
        })
    output.plain(f"  API URL: {config.api_url}")
    if config.token:
        output.out().print(f"[green]  Auth: authenticated[/] [dim]({config.token[:10]}...)[/]")
    else:
        output.out().print("[yellow]  Auth: not authenticated (run 'wahooks login')[/]")
    output.dim(f"  Config: {config.path}")


@main.group(name="config")
def config_group() -> None:
    """Change the CLI's settings."""


@config_group.command("api-url")
@click.argument("url")
def config_api_url(url: str) -> None:
    """Set the server's base URL, e.g. http://127.0.0.1:3001."""
    config = load_config()
    config.api_url = api_base_url(url)
    config.save()
    output.success(f"Set api-url = {config.api_url}")


@main.command()
@api_command(auth=False)
def health(api: Api) -> None:
    """Check that the API answers (no token needed)."""
    try:
        answer = api.client.health()
    except WAHooksError as exc:
        output.fail(f"API returned HTTP {exc.status_code} ({api.timing.ms}ms)", exc.message)
    if api.as_json:
        return output.emit_json(answer)
    output.success(f"API is healthy ({api.timing.ms}ms)")
    detail = answer.get("status") if isinstance(answer, dict) else answer
    output.dim(f"  {detail}")


@main.group(cls=AliasedGroup, aliases=("t",))
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("list", aliases=("ls",))
@api_command()
def list_tokens(api: Api) -> None:
    """List your active API tokens."""
    found = api.client.list_tokens()
    if api.as_json:
        return output.emit_json(found)
    if not found:
        return output.plain("No API tokens")
    rows = [
        (t["id"], t.get("name") or "", t.get("tokenPrefix") or "",
         t.get("lastUsedAt") or "never", t.get("createdAt") or "")
        for t in found
    ]
    output.table(("ID", "NAME", "PREFIX", "LAST USED", "CREATED"), rows, noun="token")


@tokens.command("create")
@click.argument("name")
@api_command()
def create_token(api: Api, name: str) -> None:
    """Create an API token; it is shown this once."""
    created = api.client.create_token(name)
    if api.as_json:
        return output.emit_json(created)
    output.success(f"Created API token: {created['name']}")
    output.plain("")
    output.out().print(f"  [bold]{created['token']}[/]")
    output.plain("")
    output.warn("Save this token: it won't be shown again.")


@tokens.command("revoke", aliases=("rm", "delete"))
@click.argument("token_id")
@api_command()
def revoke_token(api: Api, token_id: str) -> None:
    """Revoke an API token."""
    result = api.client.revoke_token(token_id)
    if api.as_json:
        return output.emit_json(result)
    output.success("Token revoked")

