"""Dashboard sessions: the cookie, its CSRF token, and who is signed in.

The session cookie carries the API token the user pasted and when the session ends, so it needs no
server-side state: it survives restarts, every API process on a shared PostgreSQL accepts it, and
the token is checked on every request (`Accounts.authenticate_token`, with its few seconds of
cache), so revoking the token ends every session made with it. The cookie is HttpOnly (no script
reads it), SameSite=Strict (no other site's form or link sends it), Secure when the browser spoke
https (to wahooks, or to the proxy in front of it: X-Forwarded-Proto), and expires after
`SESSION_SECONDS`: the browser drops it then (Max-Age), and the server refuses it past the end
written in it (a browser that keeps cookies longer gains nothing). The end is not signed: whoever
holds the cookie holds the token itself, which works on the API without any session.

The CSRF token is derived from the session (an HMAC of a constant keyed with the token's hash):
only someone who holds the session can compute it, and it needs no storage either.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from wahooks.accounts import Principal, hash_token
from wahooks.errors import Unauthorized

if TYPE_CHECKING:
    from wahooks.services import Services

COOKIE = "wahooks_session"
SESSION_SECONDS = 12 * 3600


def csrf_token(raw_token: str) -> str:
    key = hash_token(raw_token).encode()
    return hmac.new(key, b"wahooks dashboard csrf", hashlib.sha256).hexdigest()


def csrf_matches(raw_token: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(raw_token), sent)


def _over_https(request: Request) -> bool:
    """Whether the browser spoke https: to this server, or to a proxy in front of it. The header
    is only ever trusted to add Secure (a client that lies about it only loses its own cookie)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def start_session(request: Request, response: Response, raw_token: str) -> None:
    ends = int(time.time()) + SESSION_SECONDS
    response.set_cookie(
        COOKIE, f"{raw_token}.{ends}", max_age=SESSION_SECONDS, path="/", httponly=True,
        samesite="strict", secure=_over_https(request),
    )


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=_over_https(request),
    )


class Session:
    """The signed-in user of one request, and the CSRF token their forms carry."""

    def __init__(self, principal: Principal, raw_token: str) -> None:
        self.principal = principal
        self.user = principal.user
        self.csrf = csrf_token(raw_token)
        self._raw = raw_token

    def accepts(self, sent: str | None) -> bool:
        return csrf_matches(self._raw, sent)


async def current_session(request: Request, services: Services) -> Session | None:
    """The request's session; None without a cookie or when its token no longer works."""
    raw, _, ends = (request.cookies.get(COOKIE) or "").partition(".")
    if not raw or not ends.isdigit() or int(ends) < time.time():
        return None
    try:
        principal = await services.accounts.authenticate_token(raw)
    except Unauthorized:
        return None
    return Session(principal, raw)
