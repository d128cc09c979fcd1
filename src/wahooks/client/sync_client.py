"""`WAHooks`: the blocking client, a drop-in for the official PyPI `wahooks` 0.11.0 client."""

from __future__ import annotations

from collections.abc import Mapping
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
from wahooks.client.stream import EventHandler, WAHooksEventStream, stream_url


class WAHooks(_Api[Any]):
    """The WAHooks API. Every method returns the parsed JSON answer (None for an empty one) and
    raises WAHooksError for an error status.

        client = WAHooks("wh_...", base_url="http://127.0.0.1:3001")
        webhook = client.create_webhook(connection_id, url="https://example.com/hook")
        print(webhook["signingSecret"])
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = httpx.Client(
            headers=default_headers(api_key), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self, method: str, path: str, json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self._http.request(
            method, f"{self.base_url}/api{path}", json=json, params=clean_params(params)
        )
        return parse_answer(response.status_code, response.content, response.reason_phrase)

    def _call(
        self, method: str, path: str, *, json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        return self._request(method, path, json=json, params=params)

    def listen(
        self, on_event: EventHandler | None = None, *, envelope: bool = False,
        reconnect_delay: float = 5.0,
    ) -> WAHooksEventStream:
        """The live event stream of all your connections; `run_forever()` blocks.

            stream = client.listen(on_event=lambda e: print(e["event"], e["payload"]))
            stream.run_forever()

        `envelope=True` adds each event's whole body as webhooks receive it (`"envelope"`).
        """
        return WAHooksEventStream(
            stream_url(self.base_url, self._api_key, envelope=envelope),
            on_event=on_event,
            reconnect_delay=reconnect_delay,
        )
