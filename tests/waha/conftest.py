"""Fixtures of the WAHA engine tests: the fake WAHA and wahooks servers driving it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.server import ServerProcess
from waha.fake import FakeWaha
from waha.spec import WahaSpec

# Fast enough for tests, slow enough to be a real loop: the reconciler runs every half second.
WAHA_ENV = {
    "engine": "waha",
    "waha_reconcile_interval": "0.3",
    "waha_timeout": "3",
    "presence_delay_factor": "0",
}


@pytest.fixture(scope="session")
def waha_spec() -> WahaSpec:
    return WahaSpec()


@pytest.fixture
def make_fake_waha(waha_spec: WahaSpec) -> Iterator[Callable[..., FakeWaha]]:
    """Fake WAHA servers; after the test, none may have seen a request the spec forbids."""
    fakes: list[FakeWaha] = []

    def make(**options: Any) -> FakeWaha:
        fake = FakeWaha(waha_spec, **options).__enter__()
        fakes.append(fake)
        return fake

    yield make
    violations = [v for fake in fakes for v in fake.violations]
    for fake in fakes:
        fake.__exit__(None, None, None)
    assert violations == []


@pytest.fixture
def fake_waha(make_fake_waha: Callable[..., FakeWaha]) -> FakeWaha:
    return make_fake_waha()


@pytest.fixture
def waha_server(
    start_server: Callable[..., ServerProcess], fake_waha: FakeWaha
) -> ServerProcess:
    """wahooks on the WAHA engine, driving one fake WAHA."""
    return start_server(waha_url=fake_waha.url, waha_api_key=fake_waha.api_key, **WAHA_ENV)
