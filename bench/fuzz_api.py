"""Fuzz the API against its own OpenAPI document with schemathesis: no 5xx, and every answer
(status, content type, body) as the document says.

    scripts/fuzz-api                       # starts its own `wahooks serve` (sandbox, temp database)
    scripts/fuzz-api --max-examples 200    # longer
    scripts/fuzz-api --url http://127.0.0.1:3001 --token wh_...   # a server already running

Before the run it links one sandbox connection and gives it a webhook, and narrows the served
document in three ways so that the generated requests reach past the ownership checks:
`connection_id` and `webhook_id` are those real ids or one unknown id, and a webhook's `url` is a
loopback address (so that no generated host name is ever looked up or called). Everything else is
the document as served. Arguments after the known ones go to `schemathesis run` unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "unsupported_method",
])
UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"
_TOKEN = re.compile(r"\b(wh_[0-9a-f]{48})\b")


def narrowed(document: dict[str, Any], ids: dict[str, str], hook_url: str) -> dict[str, Any]:
    """The served document with the real ids and a loopback webhook URL (see the docstring)."""
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in ids:
                    parameter["schema"] = {"type": "string",
                                           "enum": [ids[parameter["name"]], UNKNOWN_ID]}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            url = (body or {}).get("schema", {}).get("properties", {}).get("url")
            if url is not None and url.get("format") == "uri":
                url.pop("format")
                url["enum"] = [hook_url]
    return document


def prepare(base_url: str, token: str, directory: Path) -> Path:
    """A linked connection with a webhook; the narrowed document written to `directory`."""
    hook_url = f"http://127.0.0.1:{_closed_port()}/hook"
    with httpx.Client(base_url=base_url + "/api", timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as api:
        connection = api.post("/connections", json={"name": "fuzz"}).raise_for_status().json()
        api.post(f"/connections/{connection['id']}/sandbox/scan").raise_for_status()
        webhook = api.post(f"/connections/{connection['id']}/webhooks",
                           json={"url": hook_url, "events": ["*"]}).raise_for_status().json()
        document = api.get(base_url + "/openapi.json").raise_for_status().json()
    ids = {"connection_id": connection["id"], "webhook_id": webhook["id"]}
    path = directory / "openapi.json"
    path.write_text(json.dumps(narrowed(document, ids, hook_url)))
    return path


def fuzz(base_url: str, token: str, arguments: list[str]) -> int:
    """Run schemathesis; its exit status (0: nothing found)."""
    with tempfile.TemporaryDirectory(prefix="wahooks-fuzz-") as directory:
        schema = prepare(base_url, token, Path(directory))
        command = [
            str(Path(sys.executable).with_name("schemathesis")), "run", str(schema),
            "--url", base_url, "--header", f"Authorization: Bearer {token}",
            "--checks", CHECKS, "--no-color", "--workers", "1",
            "--report-dir", str(Path(directory) / "report"),
            *arguments,
        ]
        # In the temporary directory: schemathesis keeps a cache in its working directory.
        return subprocess.run(command, check=False, cwd=directory).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--token", help="an API token of that server")
    known, rest = parser.parse_known_args()
    if not any(arg.startswith("--max-examples") or arg == "-n" for arg in rest):
        rest += ["--max-examples", "50"]
    if not any(arg.startswith("--phases") for arg in rest):
        rest += ["--phases", "examples,coverage,fuzzing"]  # stateful: the ids are given
    if "--generation-deterministic" not in rest:
        rest += ["--generation-database", "none"]
    if known.url:
        if not known.token:
            parser.error("--url needs --token")
        return fuzz(known.url.rstrip("/"), known.token, rest)
    with tempfile.TemporaryDirectory(prefix="wahooks-fuzz-server-") as directory:
        server, base_url, token = _start_server(Path(directory))
        try:
            status = fuzz(base_url, token, rest)
        finally:
            server.terminate()
            server.wait(30)
        log = "".join(_output)
        if "unhandled error" in log or "Traceback" in log:
            print("The server logged an unhandled error:\n" + log[-4000:], file=sys.stderr)
            status = status or 1
        return status


_output: list[str] = []


def _start_server(directory: Path) -> tuple[subprocess.Popen[str], str, str]:
    port = _closed_port()
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("WAHOOKS_")}
    wahooks = shutil.which("wahooks", path=str(Path(sys.executable).parent)) or "wahooks"
    server = subprocess.Popen(
        [wahooks, "serve", "--database", str(directory / "wahooks.db"), "--port", str(port),
         "--allow-private-targets"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
    )
    ready = threading.Event()
    found: list[str] = []

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            _output.append(line)
            if match := _TOKEN.search(line):
                found.append(match.group(1))
            if "Uvicorn running" in line or "Application startup complete" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(30) or not found or server.poll() is not None:
        server.kill()
        raise SystemExit("wahooks serve did not start:\n" + "".join(_output[-40:]))
    return server, f"http://127.0.0.1:{port}", found[0]


def _closed_port() -> int:
    """A loopback port nothing listens on (just released by the system)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
