"""`wahooks sandbox`: drive the sandbox engine from the command line (scan a QR code, a contact
writes, a contact types), so trying wahooks needs no curl with a pasted token."""

from __future__ import annotations

import click

from wahooks.cli import output
from wahooks.cli.aliases import AliasedGroup
from wahooks.cli.api_access import Api, api_command, chat_id
from wahooks.cli.root import main

# The sandbox engine's presence states (a test keeps them equal to the server's).
PRESENCES = ("online", "offline", "typing", "recording", "paused")


@main.group(cls=AliasedGroup)
def sandbox() -> None:
    """Simulate WhatsApp with the sandbox engine (the server's default engine)."""


@sandbox.command("scan")
@click.argument("connection_id")
@api_command()
def scan(api: Api, connection_id: str) -> None:
    """A phone scans the connection's QR code: it becomes connected."""
    connection = api.client.sandbox_scan(connection_id)
    if api.as_json:
        return output.emit_json(connection)
    output.success(f"Connected as +{connection.get('phoneNumber') or '?'}"
                   f" (connection {connection_id})")


@sandbox.command("inbound")
@click.argument("connection_id")
@click.argument("phone")
@click.argument("message")
@api_command()
def inbound(api: Api, connection_id: str, phone: str, message: str) -> None:
    """Contact PHONE writes MESSAGE to the account (webhooks get message, message.any)."""
    result = api.client.sandbox_inbound(connection_id, chat_id(phone), message)
    if api.as_json:
        return output.emit_json(result)
    output.success(f"Message {result['id']} received from {chat_id(phone)}")


@sandbox.command("presence")
@click.argument("connection_id")
@click.argument("phone")
@click.argument("state", type=click.Choice(PRESENCES))
@api_command()
def presence(api: Api, connection_id: str, phone: str, state: str) -> None:
    """Contact PHONE is online, offline, typing, recording or paused (presence.update)."""
    result = api.client.sandbox_presence(connection_id, chat_id(phone), state)
    if api.as_json:
        return output.emit_json(result)
    output.success(f"{chat_id(phone)} is {state}")
