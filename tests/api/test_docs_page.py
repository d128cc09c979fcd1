"""/docs works on a host without internet: every URL the page loads is this server's, and served."""

from __future__ import annotations

import re

import httpx

from support.server import ServerProcess

_URLS = re.compile(r"""(?:src|href)="([^"]+)"|url: '([^']+)'""")


def test_the_docs_page_loads_swagger_ui_from_this_server_only(server: ServerProcess) -> None:
    page = httpx.get(f"{server.base_url}/docs", timeout=30)
    assert page.status_code == 200
    urls = [a or b for a, b in _URLS.findall(page.text)]
    assert len(urls) == 4, urls  # the CSS, the favicon, the JS bundle, the OpenAPI document
    assert not [u for u in urls if not u.startswith("/") or u.startswith("//")], urls
    assert "http://" not in page.text and "https://" not in page.text

    types = {}
    for url in urls:
        served = httpx.get(f"{server.base_url}{url}", timeout=30)
        assert served.status_code == 200, url
        assert len(served.content) > 0
        types[url.rsplit(".", 1)[-1]] = served.headers["content-type"].split(";")[0]
    assert types == {
        "css": "text/css", "png": "image/png", "js": "text/javascript", "json": "application/json",
    }
    assert '"validatorUrl": null' in page.text  # nothing is sent to validator.swagger.io
