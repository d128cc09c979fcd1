"""Running the `wahooks` CLI in tests: in process with click's runner (fast), or as a real
subprocess where the process itself matters (login's file, listen, exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from support.server import ServerProcess
from wahooks.cli import main

Wahooks = Callable[..., Result]


def run_cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"WAHOOKS_CONFIG": str(config)})


def run_process(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAHOOKS_")}
    env.update(WAHOOKS_CONFIG=str(config), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "wahooks.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)


def parsed(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def config(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config file logged in to the module's server as its owner."""
    assert server.token is not None
    path = tmp_path_factory.mktemp("cli") / "wahooks.json"
    result = run_cli(path, "login", "--token", server.token, "--api-url", server.base_url)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def wahooks(config: Path) -> Wahooks:
    """`wahooks ARGS...` in process, logged in as the owner."""
    return lambda *args: run_cli(config, *args)
