"""The WAHA engine's settings: lists of servers, keys and capacities, and the derived URLs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wahooks.config import Settings
from wahooks.engines.waha.servers import waha_servers


def test_servers_take_one_key_and_capacity_for_all_or_one_each() -> None:
    settings = Settings(engine="waha", waha_url="http://a:3000/, http://b:3000",
                        waha_api_key="k", waha_capacity="5")
    servers = waha_servers(settings.waha_url, settings.waha_api_key, settings.waha_capacity,
                           timeout=1)
    assert [(s.url, s.capacity) for s in servers] == [("http://a:3000", 5), ("http://b:3000", 5)]
    each = Settings(engine="waha", waha_url="http://a,http://b", waha_api_key="k1,k2",
                    waha_capacity="2,1")
    assert each.waha_api_key == ("k1", "k2")
    assert each.waha_capacity == (2, 1)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({}, "needs WAHOOKS_WAHA_URL"),
        ({"waha_url": "waha:3000"}, "must start with http"),
        ({"waha_url": "http://a,http://b", "waha_api_key": "k1,k2,k3"}, "WAHOOKS_WAHA_API_KEY"),
        ({"waha_url": "http://a", "waha_capacity": "0"}, "positive"),
        ({"waha_url": "http://a,http://b,http://c", "waha_capacity": "1,2"},
         "WAHOOKS_WAHA_CAPACITY"),
    ],
)
def test_bad_waha_settings_are_refused(given: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(engine="waha", **given)  # type: ignore[arg-type]


def test_the_ingest_url_and_presence_defaults() -> None:
    assert Settings(host="0.0.0.0", port=8080).ingest_base_url == "http://127.0.0.1:8080"
    assert Settings(public_url="https://hooks.example.com/").ingest_base_url == (
        "https://hooks.example.com")
    assert Settings().presence_factor == 0
    assert Settings(engine="waha", waha_url="http://a").presence_factor == 1
    assert Settings(engine="waha", waha_url="http://a",
                    presence_delay_factor=0.1).presence_factor == 0.1
