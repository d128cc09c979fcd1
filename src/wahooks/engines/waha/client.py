"""HTTP calls to one WAHA server (WhatsApp HTTP API), with a timeout on every call.

Nothing WAHA answers reaches a client as a stack trace: an unreachable or silent server is
`EngineUnavailable` (503), a refusal is `WahaRefused` (502, with WAHA's status and message, so callers
can turn a 404 or a 422 into something more precise), and an answer that is not what WAHA documents
is `EngineError` (502).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from wahooks.errors import EngineError, EngineUnavailable

log = logging.getLogger(__name__)

_DETAIL_CHARS = 300


class WahaRefused(EngineError):
    """WAHA refused the call"""

    def __init__(self, status: int, detail: str, method: str, path: str) -> None:
        super().__init__(f"WAHA answered {method} {path} with {status}: {detail}")
        self.status = status
        self.detail = detail


def segment(value: str) -> str:
    """A path segment, percent-encoded (a chat id's `@` becomes %40, as WAHA's docs ask)."""
    return quote(value, safe="")


class WahaClient:
    """One WAHA server: its base URL, API key and the HTTP client that talks to it."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-Api-Key": api_key} if api_key else {}
        self._timeout = timeout
        """For the whole call, connecting to the last byte (httpx's own timeouts are per phase)."""
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | float | bool] | None = None,
        json: Any = None,
    ) -> Any:
        """One JSON call; the decoded answer (None for an empty body)."""
        body, _ = await self._request(method, path, params=params, json=json)
        if not body.strip():
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise EngineError(
                f"WAHA answered {method} {path} with a body that is not JSON"
            ) from None

    async def fetch(
        self, path: str, *, params: Mapping[str, str | int | float | bool] | None = None
    ) -> tuple[bytes, str]:
        """GET a binary resource (a media file): its bytes and content type."""
        return await self._request("GET", path, params=params, json=None, accept="*/*")

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | float | bool] | None,
        json: Any,
        accept: str = "application/json",
    ) -> tuple[bytes, str]:
        query = {key: _query_value(value) for key, value in (params or {}).items()}
        headers = {**self._headers, "Accept": accept}
        data = None
        if json is not None:
            data = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        response = await self._send(method, path, query, data, headers)
        body, status = response.content, response.status_code
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        if status >= 400:
            detail = _detail(body) or f"HTTP {status}"
            log.warning(
                "WAHA refused a call",
                extra={"action": "waha.refused", "server": self.base_url, "method": method,
                       "path": path, "status": status, "detail": detail},
            )
            raise WahaRefused(status, detail, method, path)
        return body, content_type

    async def _send(
        self, method: str, path: str, query: dict[str, str], data: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        """WAHA's answer, read whole within the timeout; EngineUnavailable when there is none."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._http().request(
                    method, self.base_url + path, params=query, content=data, headers=headers
                )
        # The server's address and the low-level reason go to the log, not to API clients: in a
        # shared installation they would show every account the internal network.
        except (TimeoutError, httpx.TimeoutException):
            self._log_failure(method, path, "timeout")
            raise EngineUnavailable(
                "The WhatsApp engine did not answer in time; please retry"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            self._log_failure(method, path, _reason(exc))
            raise EngineUnavailable(
                "The WhatsApp engine is unreachable right now; please retry"
            ) from None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No proxy from the environment, no redirects: WAHA is called directly, as it answers.
            self._client = httpx.AsyncClient(timeout=None, trust_env=False, follow_redirects=False)
        return self._client

    def _log_failure(self, method: str, path: str, reason: str) -> None:
        log.warning(
            "WAHA call failed",
            extra={"action": "waha.unreachable", "server": self.base_url, "method": method,
                   "path": path, "reason": reason},
        )


def _query_value(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text[:_DETAIL_CHARS] if text else type(exc).__name__


def _detail(body: bytes) -> str:
    """WAHA's own words: Nest's `message` (a string or a list), else `error`, else the body."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace").strip()[:_DETAIL_CHARS]
    if isinstance(parsed, dict):
        for key in ("message", "error"):
            value = parsed.get(key)
            if isinstance(value, list):
                value = "; ".join(str(item) for item in value)
            if isinstance(value, str) and value:
                return value[:_DETAIL_CHARS]
    return orjson.dumps(parsed).decode()[:_DETAIL_CHARS]
