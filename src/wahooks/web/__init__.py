"""The web dashboard: server-rendered pages under `/` beside the API, on the same Services."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from wahooks.web import account, connections, system, webhooks

STATIC = Path(__file__).parent / "static"


def web_routes() -> list[BaseRoute]:
    """The dashboard's routes, to go after the API's in the app's router."""
    return [
        *account.routes, *connections.routes, *webhooks.routes, *system.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
