"""A short, deterministic run of scripts/fuzz-api (schemathesis over the served OpenAPI document,
bodies included) against a real server: no 5xx, and every answer as the document says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_schemathesis_finds_nothing(server: ServerProcess) -> None:
    assert server.token is not None
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz_api.py"), "--url", server.base_url,
         "--token", server.token, "--max-examples", "3", "--phases", "examples,fuzzing",
         "--generation-deterministic"],
        check=False, capture_output=True, text=True, timeout=230,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    log = "".join(server.output)
    assert "unhandled error" not in log and "Traceback" not in log, log[-4000:]
