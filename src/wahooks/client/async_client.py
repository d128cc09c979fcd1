"""`AsyncWAHooks`: the asyncio twin of `WAHooks`, the same methods as coroutines."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Self

import httpx

from wahooks.client.api import (
    DEFAULT_BASE_URL,
    TIMEOUT_SECONDS,
    _Api,
    clean_params,
    default_headers,
    parse_answer,
)
from wahooks.client.stream import AsyncWAHooksEventStream, EventHandler, stream_url


class AsyncWAHooks(_Api[Awaitable[Any]]):
    """The WAHooks API for asyncio: `await client.list_connections()`, and so on for every
    method of `WAHooks` (`get_media_url` builds a URL and needs no await).

        async with AsyncWAHooks("wh_...", base_url="http://127.0.0.1:3001") as client:
            webhook = await client.create_webhook(connection_id, url="https://example.com/hook")
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = httpx.AsyncClient(
            headers=default_headers(api_key), timeout=timeout, transport=transport
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(
        self, method: str, path: str, json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        response = await self._http.request(
            method, f"{self.base_url}/api{path}", json=json, params=clean_params(params)
        )
        return parse_answer(response.status_code, response.content, response.reason_phrase)

    def _call(
        self, method: str, path: str, *, json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Awaitable[Any]:
        return self._request(method, path, json=json, params=params)

    def listen(
        self, on_event: EventHandler | None = None, *, envelope: bool = False,
        reconnect_delay: float = 5.0,
    ) -> AsyncWAHooksEventStream:
        """The live event stream of all your connections: `await stream.run_forever()`, or
        `async for event in stream`. `envelope=True` adds each event's whole webhook body."""
        return AsyncWAHooksEventStream(
            stream_url(self.base_url, self._api_key, envelope=envelope),
            on_event=on_event,
            reconnect_delay=reconnect_delay,
        )
