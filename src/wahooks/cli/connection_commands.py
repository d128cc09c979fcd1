"""`wahooks connections` (`conn`, `c`): linked WhatsApp numbers, their QR codes, and sending."""

from __future__ import annotations

import base64
import mimetypes
import time
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from wahooks.cli import output
from wahooks.cli.aliases import AliasedGroup
from wahooks.cli.api_access import Api, api_command, chat_id
from wahooks.cli.qr import default_png_path, png_bytes, save_png, terminal_qr
from wahooks.cli.root import main
from wahooks.client import WAHooksError

_STATUS_STYLE = {"connected": "green", "scan_qr": "yellow", "pending": "yellow", "failed": "red"}


@main.group(cls=AliasedGroup, aliases=("conn", "c"))
def connections() -> None:
    """Manage WhatsApp connections (linked numbers)."""


@connections.command("list", aliases=("ls",))
@api_command()
def list_connections(api: Api) -> None:
    """List your connections."""
    found = api.client.list_connections()
    if api.as_json:
        return output.emit_json(found)
    if not found:
        return output.dim("No connections yet. Create one: wahooks connections create")
    rows = [
        (c["id"], _styled_status(c.get("status")), c.get("sessionName") or "",
         c.get("phoneNumber") or "")
        for c in found
    ]
    output.table(("ID", "STATUS", "SESSION", "PHONE"), rows, noun="connection")


@connections.command("create")
@click.option("--name", help="A name to recognise the connection by")
@api_command()
def create_connection(api: Api, name: str | None) -> None:
    """Create a connection (then link a phone: qr ID --poll)."""
    created = api.client.create_connection(name=name)
    if api.as_json:
        return output.emit_json(created)
    output.success(f"Created connection {created['id']} (status: {created['status']})")
    output.dim(f"  Link a phone: wahooks connections qr {created['id']} --poll")


@connections.command("get")
@click.argument("connection_id")
@api_command()
def get_connection(api: Api, connection_id: str) -> None:
    """Show one connection."""
    api.show(api.client.get_connection(connection_id))


@connections.command("qr")
@click.argument("connection_id")
@click.option("--poll", is_flag=True,
              help="Wait for the QR code, show it, and wait until a phone scans it")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds --poll waits at most")
@click.option("--interval", default=3.0, show_default=True, help="Seconds between two polls")
@click.option("--out", "png_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the QR PNG when the server cannot send the QR's text")
@api_command()
def qr(api: Api, connection_id: str, poll: bool, timeout: float, interval: float,
       png_path: Path | None) -> None:
    """Show the QR code to link a phone, drawn in the terminal."""
    if api.as_json:
        return output.emit_json(api.client.get_qr(connection_id))
    deadline = time.monotonic() + timeout
    answer = _poll_qr(api, connection_id, poll=poll, interval=interval, deadline=deadline)
    if answer.get("connected"):
        return output.success("Already connected!")
    _show_qr(answer, connection_id, png_path)
    if not poll:
        return None
    shown = answer.get("value")
    with output.err().status("Waiting for a phone to scan the QR code..."):
        while time.monotonic() < deadline:
            time.sleep(interval)
            answer = _poll_qr(api, connection_id, poll=True, interval=interval, deadline=deadline)
            if answer.get("connected"):
                phone = api.client.get_connection(connection_id).get("phoneNumber")
                return output.success(f"Connected{f' as +{phone}' if phone else ''}!")
            if answer.get("value") != shown:
                shown = answer.get("value")
                output.info("The QR code changed:")
                _show_qr(answer, connection_id, png_path)
    output.fail(f"No phone scanned the QR code within {timeout:g} s",
                f"Run `wahooks connections qr {connection_id} --poll` again for a new one.")


def _poll_qr(
    api: Api, connection_id: str, *, poll: bool, interval: float, deadline: float
) -> dict[str, Any]:
    """The QR answer; with `poll`, a 503 (engine still starting) is waited out."""
    while True:
        try:
            answer: dict[str, Any] = api.client.get_qr(connection_id, format="raw")
            return answer
        except WAHooksError as exc:
            if not poll or exc.status_code != 503 or time.monotonic() + interval > deadline:
                raise
            waiting = exc.message
        with output.err().status(f"Waiting for the QR code ({waiting})..."):
            time.sleep(interval)


def _show_qr(answer: dict[str, Any], connection_id: str, png_path: Path | None) -> None:
    value = answer.get("value")
    if not isinstance(value, str) or not value:
        output.fail("The server answered no QR code", "Try again in a few seconds.")
    png = png_bytes(value)
    if png is None:
        output.plain(terminal_qr(value))
    else:
        saved = save_png(png, png_path or default_png_path(connection_id))
        output.success(f"QR saved to {saved}")
    output.warn("Scan the QR code with WhatsApp: Settings > Linked devices > Link a device")


@connections.command("quick", aliases=("q",))
@api_command()
def quick(api: Api) -> None:
    """Get a connection ready to scan (an idle one or a new one)."""
    found = api.client.get_or_create_scannable_connection()
    if api.as_json:
        return output.emit_json(found)
    output.success(f"Connection {found['id']} (status: {found['status']})")
    if found["status"] in ("connected", "working"):
        return output.success("Already connected, no QR needed")
    if not found.get("qr"):
        return output.dim(f"QR not ready yet. Run: wahooks connections qr {found['id']} --poll")
    try:
        answer = api.client.get_qr(found["id"], format="raw")
    except WAHooksError:
        answer = {"value": found["qr"]}
    _show_qr(answer, found["id"], None)


@connections.command("me")
@click.argument("connection_id")
@api_command()
def me(api: Api, connection_id: str) -> None:
    """Show the WhatsApp account a connection is linked to."""
    profile = api.client.get_profile(connection_id)
    if profile is None and not api.as_json:
        return output.warn("Not linked to a WhatsApp account yet")
    api.show(profile)


@connections.command("chats")
@click.argument("connection_id")
@click.option("--limit", default=20, show_default=True, help="Chats to show at most")
@api_command()
def chats(api: Api, connection_id: str, limit: int) -> None:
    """List a connection's recent chats."""
    found = api.client.get_chats(connection_id, limit=limit)
    if api.as_json:
        return output.emit_json(found)
    if not found:
        return output.dim("No chats yet")
    for chat in found[:limit]:
        name = chat.get("name") or chat.get("id") or "?"
        last = chat.get("lastMessage") or {}
        body = str(last.get("body") or "")
        body = body if len(body) <= 60 else body[:60] + "..."
        preview = f" — {'You: ' if last.get('fromMe') else ''}{body}" if body else ""
        output.bullet(name, preview)
    output.count(len(found), "chat")


@connections.command("send")
@click.argument("connection_id")
@click.argument("phone")
@click.argument("message")
@click.option("--reply-to", help="Id of the message to reply to")
@click.option("--skip-presence", is_flag=True, help="Send at once, without seen/typing first")
@api_command()
def send(api: Api, connection_id: str, phone: str, message: str, reply_to: str | None,
         skip_presence: bool) -> None:
    """Send a text message to PHONE (digits, or a chat id)."""
    sent = api.client.send_message(
        connection_id, chat_id(phone), message, skip_presence=skip_presence, reply_to=reply_to
    )
    _sent(api, sent, f"Message sent to {phone}")


def _media(source: str, *, with_filename: bool) -> dict[str, Any]:
    """The url, or the base64 data, mimetype (and filename) of a local file."""
    if source.startswith(("http://", "https://")):
        return {"url": source}
    path = Path(source)
    try:
        content = path.read_bytes()
    except OSError as exc:
        output.fail(f"Cannot read {source}: {exc.strerror}")
    output.dim(f"Uploading {path.name} ({len(content)} bytes)")
    media: dict[str, Any] = {
        "data": base64.b64encode(content).decode(),
        "mimetype": mimetypes.guess_type(path.name)[0],
    }
    if with_filename:
        media["filename"] = path.name
    return media


def _media_command(name: str, kind: str, *, caption: bool, filename: bool) -> None:
    @connections.command(name, help=f"Send {kind} from a URL or a local file.")
    @click.argument("connection_id")
    @click.argument("phone")
    @click.argument("source", metavar="URL_OR_FILE")
    @api_command()
    def command(api: Api, connection_id: str, phone: str, source: str, **options: Any) -> None:
        media = _media(source, with_filename=filename)
        if options.get("filename"):
            media["filename"] = options["filename"]
        if options.get("caption"):
            media["caption"] = options["caption"]
        media["skip_presence"] = options["skip_presence"]
        send_media = getattr(api.client, name.replace("-", "_"))
        _sent(api, send_media(connection_id, chat_id(phone), **media), f"Sent to {phone}")

    click.option("--skip-presence", is_flag=True,
                 help="Send at once, without seen/typing first")(command)
    if caption:
        click.option("--caption", help="Caption text")(command)
    if filename:
        click.option("--filename", help="File name shown to the recipient")(command)


_media_command("send-image", "an image", caption=True, filename=False)
_media_command("send-document", "a document", caption=True, filename=True)
_media_command("send-video", "a video", caption=True, filename=False)
_media_command("send-audio", "audio (a voice note)", caption=False, filename=False)


@connections.command("send-location")
@click.argument("connection_id")
@click.argument("phone")
@click.argument("latitude", type=float)
@click.argument("longitude", type=float)
@click.option("--name", help="Name of the place")
@click.option("--address", help="Address of the place")
@click.option("--skip-presence", is_flag=True, help="Send at once, without seen/typing first")
@api_command()
def send_location(api: Api, connection_id: str, phone: str, latitude: float,
                  longitude: float, name: str | None, address: str | None,
                  skip_presence: bool) -> None:
    """Send a location pin."""
    sent = api.client.send_location(
        connection_id, chat_id(phone), latitude, longitude, name=name, address=address,
        skip_presence=skip_presence,
    )
    _sent(api, sent, f"Location sent to {phone}")


@connections.command("send-contact")
@click.argument("connection_id")
@click.argument("phone")
@click.argument("contact_name")
@click.argument("contact_phone")
@click.option("--skip-presence", is_flag=True, help="Send at once, without seen/typing first")
@api_command()
def send_contact(api: Api, connection_id: str, phone: str, contact_name: str,
                 contact_phone: str, skip_presence: bool) -> None:
    """Send a contact card."""
    sent = api.client.send_contact(
        connection_id, chat_id(phone), contact_name, contact_phone, skip_presence=skip_presence
    )
    _sent(api, sent, f"Contact sent to {phone}")


def _sent(api: Api, answer: Any, message: str) -> None:
    if api.as_json:
        output.emit_json(answer)
    else:
        output.success(message)


@connections.command("restart")
@click.argument("connection_id")
@api_command()
def restart(api: Api, connection_id: str) -> None:
    """Reset a connection: it logs out and waits for a new QR scan."""
    restarted = api.client.restart_connection(connection_id)
    if api.as_json:
        return output.emit_json(restarted)
    output.success(f"Restarted connection {connection_id} (status: {restarted.get('status')})")
    output.dim(f"  Link a phone again: wahooks connections qr {connection_id} --poll")


@connections.command("delete", aliases=("rm",))
@click.argument("connection_id")
@api_command()
def delete(api: Api, connection_id: str) -> None:
    """Delete a connection (it stops; its logs stay)."""
    deleted = api.client.delete_connection(connection_id)
    if api.as_json:
        return output.emit_json(deleted)
    if not isinstance(deleted, dict) or deleted.get("status") != "stopped":
        api.show(deleted)
        output.fail("The server did not confirm the deletion")
    output.success("Connection deleted")


def _styled_status(status: Any) -> Text:
    text = str(status or "")
    return Text(text, style=_STATUS_STYLE.get(text, ""))
