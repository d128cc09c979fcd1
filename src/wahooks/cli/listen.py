"""`wahooks listen`: live events of your connections, printed or forwarded to a local URL.

Like `stripe listen`: develop a receiver on your machine without exposing it to the internet. The
stream comes over `/api/ws` with `envelope=true`, so each event carries its whole body exactly as
webhooks receive it; that body is POSTed to `--forward-to` with the very headers of a real
delivery (`X-WAHooks-Signature`, `-Timestamp`, `-Event`, `-Delivery`, `-Attempt`), signed with a
local secret derived from your token: the same on every run, printed at start (`--print-secret`
prints only it). Each forward is one attempt; nothing is retried. A server without the envelope
(the original WAHooks) gets the frame itself forwarded.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
import httpx
from rich.console import Console
from rich.markup import escape

from wahooks.cli import output
from wahooks.cli.api_access import LOGIN_HINT, api_base_url, load_config
from wahooks.cli.root import main
from wahooks.client import AsyncWAHooks, WAHooks, WAHooksError
from wahooks.ids import uuid7
from wahooks.signing import signed_headers
from wahooks.version import __version__

FORWARD_TIMEOUT = 15.0


def listen_secret(token: str) -> str:
    """The local signing secret: stable per token, 64 hex characters like a webhook's."""
    return hmac.new(token.encode(), b"wahooks listen", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Forwarded:
    status: int | None
    error: str | None
    ms: int


class Forwarder:
    """POSTs one event body to the local URL as a real delivery would, once."""

    def __init__(self, url: str, secret: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self._secret = secret
        self._http = http

    async def forward(self, event_type: str, body: bytes) -> Forwarded:
        headers = signed_headers(self._secret, event_type, body, int(time.time()))
        headers["X-WAHooks-Delivery"] = uuid7()
        headers["X-WAHooks-Attempt"] = "1"
        headers["User-Agent"] = f"wahooks-listen/{__version__}"
        started = time.perf_counter()
        try:
            response = await self._http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Forwarded(None, str(exc) or type(exc).__name__, _ms_since(started))
        return Forwarded(response.status_code, None, _ms_since(started))


def webhook_body(frame: dict[str, Any]) -> bytes:
    """What a webhook receives for this frame's event: the envelope, written as JSON.stringify
    writes it (the bytes the server delivered), else the frame itself."""
    from wahooks.serialization import dumps  # orjson: the realtime extra, checked by `listen`

    envelope = frame.get("envelope")
    return dumps(envelope if isinstance(envelope, dict) else frame)


@main.command()
@click.option("-f", "--forward-to", metavar="URL", help="POST each event to this URL, signed")
@click.option("-e", "--events", default="*", show_default=True,
              help="Event types to pass on, comma separated")
@click.option("--print-secret", is_flag=True, help="Print the local signing secret and exit")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event and line")
@click.option("--api-url", metavar="URL", help="API base URL (default: from the config file)")
def listen(forward_to: str | None, events: str, print_secret: bool, as_json: bool,
           api_url: str | None) -> None:
    """Stream live events; --forward-to delivers each one to a local URL."""
    config = load_config()
    if not config.token:
        output.fail(f"Not logged in ({config.path} holds no token)", LOGIN_HINT)
    secret = listen_secret(config.token)
    if print_secret:
        return click.echo(secret)
    _require_realtime_extra()
    wanted = {name.strip() for name in events.split(",") if name.strip()} or {"*"}
    base_url = api_base_url(api_url or config.api_url)
    _check_access(base_url, config.token)
    session = _Session(base_url, config.token, forward_to, secret, wanted, as_json)
    try:
        asyncio.run(session.run())
    except KeyboardInterrupt:
        if not as_json:
            output.dim("Stopped.")
    except WAHooksError as exc:
        output.fail(f"The server refused the event stream: {exc.message}", LOGIN_HINT)


def _require_realtime_extra() -> None:
    try:
        import orjson  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as exc:
        output.fail(f"wahooks listen needs the {exc.name} package",
                    "Install the realtime extra: pip install 'wahooks-server[realtime]'")


def _check_access(base_url: str, token: str) -> None:
    """Fail at once, with the usual panel, on a bad token or a server that is down: the stream
    itself would only learn it after saying it is ready, or retry forever."""
    try:
        with WAHooks(token, base_url=base_url) as client:
            client.get_me()
    except WAHooksError as exc:
        output.fail(exc.message, f"HTTP {exc.status_code}. {LOGIN_HINT}")
    except httpx.TransportError as exc:
        output.fail(f"API unreachable at {base_url}: {exc or type(exc).__name__}",
                    "Is the server running?")


class _Session:
    def __init__(self, api_url: str, token: str, forward_to: str | None, secret: str,
                 wanted: set[str], as_json: bool) -> None:
        self.api_url = api_url
        self.token = token
        self.forward_to = forward_to
        self.secret = secret
        self.wanted = wanted
        self.as_json = as_json
        self.console: Console = output.out()
        self._connected_before = False

    async def run(self) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with AsyncWAHooks(self.token, base_url=self.api_url) as client, \
                httpx.AsyncClient(timeout=FORWARD_TIMEOUT, follow_redirects=False) as http:
            forwarder = Forwarder(self.forward_to, self.secret, http) if self.forward_to else None
            stream = client.listen(envelope=True)
            stream.on_connect = self._connected
            stream.on_disconnect = self._disconnected
            worker = asyncio.create_task(self._pass_on(queue, forwarder))
            try:
                async for frame in stream:
                    if "*" in self.wanted or frame.get("event") in self.wanted:
                        queue.put_nowait(frame)
            finally:
                worker.cancel()

    async def _pass_on(
        self, queue: asyncio.Queue[dict[str, Any]], forwarder: Forwarder | None
    ) -> None:
        while True:
            frame = await queue.get()
            event_type = str(frame.get("event"))
            result = None
            if forwarder is not None:
                result = await forwarder.forward(event_type, webhook_body(frame))
            self._report(frame, event_type, result)

    def _report(self, frame: dict[str, Any], event_type: str, result: Forwarded | None) -> None:
        if self.as_json:
            line = dict(frame)
            if result is not None:
                line["forwarded"] = {"status": result.status, "error": result.error,
                                     "ms": result.ms}
            click.echo(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
            return
        clock = datetime.now().strftime("%H:%M:%S")
        head = f"[dim]{clock}[/]  {escape(event_type):<16}"
        if result is None:
            detail = _summary(frame)
            self.console.print(f"{head} [dim]{escape(frame.get('connectionId') or '')}[/] "
                               f"{escape(detail)}")
        elif result.status is not None:
            colour = "green" if 200 <= result.status < 300 else "red"
            self.console.print(f"{head} → [{colour}][{result.status}][/] POST "
                               f"{escape(self.forward_to or '')} [dim]({result.ms} ms)[/]")
        else:
            self.console.print(f"{head} → [red]{escape('[error]')}[/] {escape(result.error or '')} "
                               f"[dim]({result.ms} ms)[/]")

    def _connected(self) -> None:
        if self.as_json:
            return
        if self._connected_before:
            output.success("Reconnected")
            return
        self._connected_before = True
        output.success(f"Ready! Listening to live events from {self.api_url}")
        if self.forward_to:
            output.info(f"Forwarding to {self.forward_to}")
            output.plain(f"  Signing secret: {self.secret}")
            output.dim("  (the same on every run with this token; check it with"
                       " wahooks.verify_signature)")
        output.dim("  Ctrl-C to stop")

    def _disconnected(self, code: int | None, reason: str) -> None:
        if not self.as_json:
            why = f"{code} {reason}".strip() if code else reason
            output.warn(f"Disconnected ({why or 'connection lost'}); reconnecting in 5 s")


def _summary(frame: dict[str, Any]) -> str:
    payload = frame.get("payload")
    if not isinstance(payload, dict):
        return ""
    if "body" in payload:
        return f"{payload.get('from', '')}: {payload['body']}"
    return str(payload.get("status") or "")


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
