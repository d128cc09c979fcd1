"""What every dashboard page shares: templates, the session guard, forms, and where errors go.

A page answers 303 to /signin without a session. An action (a POST form) needs the session and its
CSRF token; what it does goes through the Services, and a refusal (any WahooksError: not yours,
not valid, not found) comes back as a message on the page it was posted from, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from wahooks.clock import iso
from wahooks.errors import PayloadTooLarge, WahooksError
from wahooks.version import __version__
from wahooks.web.session import Session, current_session

if TYPE_CHECKING:
    from wahooks.services import Services

MAX_FORM_BYTES = 64 * 1024

templates = Environment(
    loader=PackageLoader("wahooks.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = lambda ms: iso(ms) if ms else "-"
templates.globals["version"] = __version__


class Form:
    """A posted urlencoded form: one value per name, or every value (checkboxes)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str) -> str | None:
        values = self._fields.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self._fields.get(name, [])


async def read_form(request: Request) -> Form:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLarge("The form is too large")
    return Form(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def render(
    request: Request, name: str, session: Session | None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    html = templates.get_template(name).render(
        request=request, session=session, error=request.query_params.get("error"),
        notice=request.query_params.get("notice"), **context,
    )
    return HTMLResponse(html, status)


def redirect(url: str, *, error: str | None = None, notice: str | None = None) -> Response:
    """303 to `url` (a local path only), with a message for the page to show."""
    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/") and not parts.netloc else "/"
    query = parse_qs(parts.query)
    query.pop("error", None)
    query.pop("notice", None)
    if error:
        query["error"] = [error]
    if notice:
        query["notice"] = [notice]
    encoded = urlencode(query, doseq=True)
    return RedirectResponse(f"{path}?{encoded}" if encoded else path, 303)


PageHandler = Callable[[Request, "Services", Session], Awaitable[Response]]
ActionHandler = Callable[[Request, "Services", Session, Form], Awaitable[Response]]


def page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        session = await current_session(request, services)
        if session is None:
            return RedirectResponse("/signin", 303)
        try:
            return await handler(request, services, session)
        except WahooksError as exc:
            return render(request, "error.html", session, status=exc.status_code,
                          message=exc.message)

    endpoint.__name__ = handler.__name__
    return endpoint


def action(handler: ActionHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        session = await current_session(request, services)
        if session is None:
            return RedirectResponse("/signin", 303)
        # Where the form came from: a message goes back there (a local path only).
        back = request.headers.get("referer") or "/"
        back_parts = urlsplit(back)
        back = back_parts.path + (f"?{back_parts.query}" if back_parts.query else "")
        try:
            form = await read_form(request)
        except WahooksError as exc:
            return redirect(back, error=exc.message)
        if not session.accepts(form.get("csrf")):
            return render(request, "error.html", session, status=403,
                          message="This form's CSRF token is missing or wrong: reload the page "
                          "and send it again.")
        try:
            return await handler(request, services, session, form)
        except WahooksError as exc:
            return redirect(back, error=exc.message)

    endpoint.__name__ = handler.__name__
    return endpoint
