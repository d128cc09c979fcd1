"""The light install (`pip install wahooks-server`: SDK, verify_signature, client CLI) works
without any of the server's packages; the server's commands say which extra they need.

The server's packages are hidden from a subprocess by a meta-path finder, which is what an
environment without them looks like to `import`; pyproject's own lists are checked too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from support.server import ServerProcess

ROOT = Path(__file__).parents[2]
SERVER_PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "pydantic", "pydantic_settings",
                   "orjson", "aiohttp", "asyncpg", "httptools", "yarl", "websockets",
                   "watchfiles", "anyio.to_process")

_BLOCKER = textwrap.dedent(f"""
    import importlib.abc, sys

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {[p.split(".")[0] for p in SERVER_PACKAGES]!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Blocked())
""")


def light(code: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAHOOKS_")}
    return subprocess.run([sys.executable, "-c", _BLOCKER + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return light(f"""
        import sys
        from wahooks.cli import main
        sys.argv = ["wahooks", *{list(args)!r}]
        main()
    """)


def test_the_sdk_and_verify_signature_import_without_server_packages() -> None:
    done = light("""
        import sys
        import wahooks, wahooks.client
        from wahooks import AsyncWAHooks, WAHooks, WAHooksError, verify_signature
        import wahooks.cli
        loaded = sorted(name for name in sys.modules
                        if name.split(".")[0] in ("fastapi", "pydantic", "orjson", "asyncpg"))
        assert not loaded, loaded
        import time
        from wahooks.signing import signed_headers
        body, secret = b'{"event":"test"}', "s3cret"
        verify_signature(body, signed_headers(secret, "test", body, int(time.time())), secret)
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_blocker_really_blocks() -> None:
    done = light("import fastapi")
    assert done.returncode == 1 and "No module named 'fastapi'" in done.stderr


def test_client_commands_work_without_server_packages(server: ServerProcess) -> None:
    done = cli("health", "--api-url", server.base_url)
    assert done.returncode == 0, done.stderr
    assert "API is healthy" in done.stdout
    assert cli("webhooks", "create", "--help").returncode == 0
    assert cli("--help").returncode == 0


def test_server_commands_name_the_extra_they_need() -> None:
    for args in (["serve"], ["token", "create", "--name", "x"], ["migrate"],
                 ["db", "backup", "x.db"]):
        done = cli(*args)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert "pip install 'wahooks-server[server]'" in done.stderr, done.stderr
    helped = cli("serve", "--help")
    assert helped.returncode == 0 and "wahooks-server[server]" in helped.stdout


def test_listen_names_the_realtime_extra(tmp_path: Path) -> None:
    config = tmp_path / "wahooks.json"
    config.write_text('{"api_url": "http://127.0.0.1:9", "token": "wh_x"}')
    done = light(f"""
        import os, sys
        os.environ["WAHOOKS_CONFIG"] = {str(config)!r}
        from wahooks.cli import main
        sys.argv = ["wahooks", "listen"]
        main()
    """)
    assert done.returncode == 1
    assert "pip install 'wahooks-server[realtime]'" in done.stderr, done.stderr


def test_pyproject_keeps_the_server_behind_its_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "wahooks-server"

    def names(requirements: list[str]) -> set[str]:
        return {req.split("[")[0].split(">")[0].split("=")[0].split(";")[0].split("<")[0]
                .strip().lower().replace("_", "-") for req in requirements}

    light_install = names(project["dependencies"])
    server = names(project["optional-dependencies"]["server"])
    assert not light_install & {name.replace("_", "-") for name in SERVER_PACKAGES}
    assert {"fastapi", "uvicorn", "asyncpg", "orjson"} <= server
    dev = project["optional-dependencies"]["dev"]
    assert any(req.startswith("wahooks-server[") and "server" in req for req in dev)
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
