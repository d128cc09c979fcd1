"""Several API processes on one port (`--reuse-port`, PostgreSQL): each binds it beside the
others, and when one dies the others go on answering there."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from support.server import ServerProcess

SHARED = {"WAHOOKS_REUSE_PORT": "1"}


def test_api_processes_share_one_port_and_survive_each_other(
    postgres_schema_url: Callable[[], str],
) -> None:
    url = postgres_schema_url()
    first = ServerProcess(url, role="api", env=SHARED).start()
    second = ServerProcess(url, role="api", env=SHARED)
    second.port = first.port
    try:
        second.start()
        assert second.port == first.port  # bound beside the first, not moved to a free port
        token = first.token
        created = httpx.post(f"{first.base_url}/api/connections",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert created.status_code == 201, created.text
        first.kill()
        # New connections now reach only the second process, which sees the same database.
        for _ in range(5):
            listed = httpx.get(f"{first.base_url}/api/connections",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert listed.status_code == 200
            assert [found["id"] for found in listed.json()] == [created.json()["id"]]
    finally:
        second.stop()
        first.stop()


def test_without_the_flag_a_second_process_cannot_take_the_port(
    postgres_schema_url: Callable[[], str],
) -> None:
    url = postgres_schema_url()
    first = ServerProcess(url, role="api", env=SHARED).start()
    second = ServerProcess(url, role="api")
    second.port = first.port
    try:
        second.start()
        assert second.port != first.port  # refused as in use; the harness moved it elsewhere
    finally:
        second.stop()
        first.stop()
