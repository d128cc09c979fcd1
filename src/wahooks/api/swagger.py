"""/docs without the internet: Swagger UI's files are served from the package, not a CDN.

The files are `swagger-ui-dist` from npm, copied once into api/static/ with the version in their
names (so a browser never keeps a stale copy across an upgrade); the source map comment is dropped
because the map is not shipped. To upgrade: `npm pack swagger-ui-dist@X`, copy
swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png and the LICENSE/NOTICE files under the same
names with the new version, and change SWAGGER_UI_VERSION.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.36.0"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/docs/static"


def mount_docs(app: FastAPI, *, openapi_url: str) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="docs-static")
    assets = f"{STATIC_PATH}/swagger-ui"

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{assets}-bundle-{SWAGGER_UI_VERSION}.js",
            swagger_css_url=f"{assets}-{SWAGGER_UI_VERSION}.css",
            swagger_favicon_url=f"{assets}-favicon-{SWAGGER_UI_VERSION}.png",
            # Swagger UI would otherwise send the document to validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
