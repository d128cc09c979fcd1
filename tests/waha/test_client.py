"""The WAHA client speaks httpx, the SDK's HTTP stack: the server needs no other client library
(aiohttp is only the tests' and the benchmarks')."""

from __future__ import annotations

import subprocess
import sys


def test_the_server_and_the_waha_engine_load_no_aiohttp() -> None:
    check = (
        "import sys, wahooks.app, wahooks.cli, wahooks.engines.waha;"
        " assert 'aiohttp' not in sys.modules, sorted(m for m in sys.modules if 'aiohttp' in m)"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
