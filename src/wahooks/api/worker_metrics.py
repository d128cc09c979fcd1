"""The delivery worker's own HTTP server: `/metrics` and nothing else.

A worker (`--role worker`) counts its attempts, latencies and in-flight deliveries in its own
memory, so only it can expose them; it serves no API. With `WAHOOKS_METRICS_PORT` set it answers
`GET /metrics` there, under the same access rule as the API's (an owner's token, or open with
`WAHOOKS_METRICS_PUBLIC`). Its lifetime is the worker's: it starts once the worker runs and stops
before the worker hands back what it holds.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from wahooks.api.errors import on_http_exception, on_unexpected, on_wahooks_error
from wahooks.api.routes import metrics
from wahooks.errors import WahooksError
from wahooks.services import Services
from wahooks.version import __version__


def metrics_app(services: Services) -> FastAPI:
    app = FastAPI(title="wahooks worker", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None, redirect_slashes=False)
    app.state.services = services
    app.add_exception_handler(WahooksError, on_wahooks_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)
    app.include_router(metrics.router)
    return app


class MetricsServer(uvicorn.Server):
    """uvicorn inside the worker's own event loop: the worker owns SIGTERM/SIGINT (it stops the
    server itself), so uvicorn must not take the signals over."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def metrics_server(services: Services, listener: socket.socket) -> MetricsServer:
    host, port = listener.getsockname()[:2]
    return MetricsServer(uvicorn.Config(
        metrics_app(services), host=host, port=port, lifespan="off", log_config=None,
        access_log=False, proxy_headers=False, timeout_graceful_shutdown=2,
    ))
