"""What every client command shares: the config file, an SDK client for it, the timing of the last
answer, and one way to fail (the red panel, exit 1).

Commands drive the server through `wahooks.client.WAHooks`, the SDK users get, so the CLI and the
SDK cannot drift apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click
import httpx

from wahooks.cli import output
from wahooks.cli.config_file import ClientConfig, ConfigError
from wahooks.client import WAHooks, WAHooksError

F = TypeVar("F", bound=Callable[..., Any])

LOGIN_HINT = "Log in with: wahooks login --token wh_... --api-url http://127.0.0.1:3001"


class TimingTransport(httpx.BaseTransport):
    """httpx's own transport, remembering the last answer's status and time to headers."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.status: int | None = None
        self.ms: int | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = self._inner.handle_request(request)
        self.ms = round((time.perf_counter() - started) * 1000)
        self.status = response.status_code
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass
class Api:
    client: WAHooks
    config: ClientConfig
    api_url: str
    timing: TimingTransport
    as_json: bool

    def show(self, data: Any) -> None:
        """An answer as the Go CLI prints it, or as bare JSON with --json."""
        if self.as_json:
            output.emit_json(data)
        else:
            output.answer(data, status=self.timing.status, ms=self.timing.ms)


def load_config() -> ClientConfig:
    try:
        return ClientConfig.load()
    except ConfigError as exc:
        output.fail(str(exc))


def api_url_option(func: F) -> F:
    return click.option(
        "--api-url", metavar="URL",
        help="API base URL, e.g. http://127.0.0.1:3001 (default: from the config file)",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON")(func)


def api_command(*, auth: bool = True, json_flag: bool = True) -> Callable[[F], F]:
    """Give the command an `Api` as first argument, with `--api-url` (and `--json`) options;
    API errors and an unreachable server end it with the error panel and exit 1."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, api_url: str | None, as_json: bool = False, **kwargs: Any) -> Any:
            config = load_config()
            url = api_base_url(api_url or config.api_url)
            if auth and not config.token:
                output.fail(f"Not logged in ({config.path} holds no token)", LOGIN_HINT)
            timing = TimingTransport()
            try:
                with WAHooks(config.token, base_url=url, transport=timing) as client:
                    return func(Api(client, config, url, timing, as_json), *args, **kwargs)
            except WAHooksError as exc:
                output.fail(exc.message, error_hint(exc))
            except httpx.TransportError as exc:
                output.fail(
                    f"API unreachable at {url}: {exc or type(exc).__name__}",
                    "Is the server running? Point the CLI at it with --api-url or"
                    " `wahooks config api-url URL`.",
                )

        decorated = api_url_option(run)
        return json_option(decorated) if json_flag else decorated  # type: ignore[return-value]

    return decorate


def api_base_url(url: str) -> str:
    """The base URL the SDK takes (it adds `/api` itself), from what a user may type: the start
    banner's `.../api` is accepted; a URL without its scheme is refused with the reason."""
    url = url.strip()
    example = "e.g. http://127.0.0.1:3001"
    if "://" not in url:
        output.fail(f"The API URL {url!r} has no scheme",
                    f"Write it with http:// or https://, {example}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        output.fail(f"The API URL {url!r} must start with http:// or https://", example)
    try:
        parts.port  # noqa: B018 - parsing it validates it
    except ValueError:
        output.fail(f"The API URL {url!r} has an invalid port", example)
    if not parts.hostname:
        output.fail(f"The API URL {url!r} has no host", example)
    path = parts.path.rstrip("/")
    path = path.removesuffix("/api")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def error_hint(exc: WAHooksError) -> str:
    if exc.status_code == 401:
        return f"HTTP 401. {LOGIN_HINT}"
    return f"HTTP {exc.status_code}"


def chat_id(phone: str) -> str:
    """A phone number as a chat id (`<digits>@c.us`, whatever "+1 415-555-..." formatting it was
    typed with); ids with an `@` pass unchanged."""
    if "@" in phone:
        return phone
    return "".join(ch for ch in phone if ch.isdigit()) + "@c.us"
