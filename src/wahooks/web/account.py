"""Dashboard pages for the account: sign-in and sign-out, and API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from wahooks.errors import BadRequest, PayloadTooLarge, Unauthorized
from wahooks.web.render import Form, action, page, read_form, redirect, render, services_of
from wahooks.web.session import Session, current_session, end_session, start_session

if TYPE_CHECKING:
    from wahooks.services import Services


async def home(request: Request) -> Response:
    return RedirectResponse("/connections", 303)


async def signin_page(request: Request) -> Response:
    session = await current_session(request, services_of(request))
    if session is not None:
        return RedirectResponse("/connections", 303)
    return render(request, "signin.html", None)


async def signin(request: Request) -> Response:
    """Sign in with an API token. No CSRF token here (there is no session yet); a forged sign-in
    could only sign the victim into the forger's own account, and SameSite=Strict keeps other
    sites' requests from carrying a session anyway."""
    services = services_of(request)
    try:
        form = await read_form(request)
    except PayloadTooLarge as exc:
        return render(request, "signin.html", None, status=413, message=exc.message)
    raw = (form.get("token") or "").strip()
    try:
        await services.accounts.authenticate_token(raw)
    except Unauthorized as exc:
        return render(request, "signin.html", None, status=401, message=exc.message)
    response = redirect("/connections")
    start_session(request, response, raw)
    return response


@action
async def signout(request: Request, services: Services, session: Session, form: Form) -> Response:
    response = redirect("/signin", notice="Signed out")
    end_session(request, response)
    return response


@page
async def tokens_page(request: Request, services: Services, session: Session) -> Response:
    tokens = await services.accounts.list_tokens(session.user)
    return render(request, "tokens.html", session, tokens=tokens, current=session.principal.token.id)


@action
async def create_token(request: Request, services: Services, session: Session, form: Form) -> Response:
    name = (form.get("name") or "").strip()
    if not name or len(name) > 100:
        raise BadRequest("name must be 1 to 100 characters")
    new = await services.accounts.create_token(session.user, name)
    # Shown once: rendered into this answer only, never put in a URL or stored in clear.
    tokens = await services.accounts.list_tokens(session.user)
    return render(request, "tokens.html", session, tokens=tokens, new=new,
                  current=session.principal.token.id)


@action
async def revoke_token(request: Request, services: Services, session: Session, form: Form) -> Response:
    await services.accounts.revoke_token(session.user, request.path_params["id"])
    if request.path_params["id"] == session.principal.token.id:
        response = redirect("/signin", notice="This session's token was revoked: signed out")
        end_session(request, response)
        return response
    return redirect("/tokens", notice="Token revoked")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/tokens", tokens_page, methods=["GET"]),
    Route("/tokens", create_token, methods=["POST"]),
    Route("/tokens/{id}/revoke", revoke_token, methods=["POST"]),
]
